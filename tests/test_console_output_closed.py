"""A console whose output is closed (`tradebot run | head`): it ends as at end of input, and
nothing about it is an incident of the trading service, in this run or the next."""

from __future__ import annotations

import os
import pty
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.support import REPO, write_config

ENDED = "console: its output was closed"


def clean_env() -> dict[str, str]:
    prefixes = ("SLACK_", "ALPACA_", "TRADEBOT_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def error_keys(journal: Path) -> set[str]:
    with sqlite3.connect(journal) as db:
        return {row[0] for row in db.execute("select key from alerts where key like 'error:%'")}


def test_a_closed_stdout_ends_the_console_quietly_and_trading_goes_on(tmp_path: Path) -> None:
    """A real `tradebot run` fed commands on a pipe: its stdout's reader goes away after the
    first line; the next answer finds the pipe closed, the console ends (as at end of input:
    trading goes on until SIGTERM, which stops it cleanly), with no traceback and no incident;
    the next run brings none back from the journal."""
    config = write_config(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config), "--speed", "0"],
        cwd=REPO,
        env=clean_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        assert proc.stdout.readline().startswith("console ready")
        proc.stdout.close()  # as `head` does once it has its lines
        proc.stdin.write("status\n")  # answered into a pipe nobody reads any more
        proc.stdin.flush()
        seen = []
        for line in proc.stderr:  # until the console has met the closed pipe, one way or another
            seen.append(line)
            if "console" in line and ("output was closed" in line or "failed" in line):
                break
        assert any(ENDED in line for line in seen), "".join(seen)
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = "".join(seen) + rest
    assert proc.returncode == 0, log
    assert "BrokenPipe" not in log and "Traceback" not in log and " ERROR " not in log
    journal = tmp_path / "journal.db"
    assert error_keys(journal) == set()
    again = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(config), "--duration", "1"],
        cwd=REPO,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    assert "still open from the last run" not in again.stderr
    assert "task-console" not in again.stderr


def test_a_summary_nobody_reads_is_not_a_failed_run(tmp_path: Path) -> None:
    """Without a console (stdin /dev/null) the summary is the only output: its reader gone,
    the run still ends cleanly, exit 0, no traceback."""
    config = write_config(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config), "--duration", "1"],
        cwd=REPO,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _, log = proc.communicate(timeout=60)
    assert proc.returncode == 0, log
    assert "BrokenPipe" not in log and "Traceback" not in log


def test_at_a_terminal_a_closed_stdout_stops_the_run_as_end_of_input_does(tmp_path: Path) -> None:
    """`tradebot run | head` typed at a terminal (stdin a terminal, stdout the pipe): once
    `head` has gone, the next answer ends the console and, as Ctrl-D there would, the run,
    cleanly (exit 0, no traceback, no incident)."""
    config = write_config(tmp_path)
    terminal, typed = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config), "--speed", "0"],
        cwd=REPO,
        env=clean_env(),
        stdin=typed,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(typed)
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().startswith("console ready")
        proc.stdout.close()
        os.write(terminal, b"status\n")
        _, log = proc.communicate(timeout=60)  # it stops by itself
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(terminal)
    assert proc.returncode == 0, log
    assert ENDED in log
    assert "BrokenPipe" not in log and "Traceback" not in log and " ERROR " not in log
    assert error_keys(tmp_path / "journal.db") == set()
