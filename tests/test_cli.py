"""`tradebot` as a user runs it: a real process, a config file, stdin and signals."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.slack import tokens as slack_tokens
from ops.shared import messages
from ops.shared.errors import StartupError
from tests.support import REPO, free_port, write_config


def tradebot(
    *args: str, stdin: str | None = None, timeout: float = 60, **given: str
) -> subprocess.CompletedProcess[str]:
    """A `tradebot` process with a clean environment, plus the `given` variables."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALPACA_", "TRADEBOT_"))
    } | given
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=REPO,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def trading(config: Path) -> subprocess.Popen[str]:
    """`tradebot run` in the background, returned once it has filled an order."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config), "--speed", "0"],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until it is really running
        if "fill" in line:
            break
    return proc


def test_run_without_a_terminal_trades_until_duration_and_prints_a_summary(tmp_path: Path) -> None:
    """No TTY: it trades the synthetic market, stops cleanly and prints bars/fills/latency."""
    config = write_config(tmp_path)
    done = tradebot("run", "--config", str(config), "--duration", "3", "--speed", "0")
    assert done.returncode == 0, done.stderr
    assert "stopped after" in done.stdout
    fills = int(done.stdout.split("fills ")[1].split()[0])
    assert fills > 0
    assert "features" in done.stdout and "p99" in done.stdout
    assert (tmp_path / "journal.db").exists()


def test_console_commands_from_a_pipe_including_a_confirmed_kill(tmp_path: Path) -> None:
    """Piped console: status, a bad command, set+confirm, kill+confirm -> FLAT, quit."""
    config = write_config(tmp_path, **{"kill.poll_sec": 0.05})
    script = "status\nlaunch rockets\nset entry_z 2.3\ny\nkill\ny\nstatus\nquit\n"
    done = tradebot("run", "--config", str(config), "--speed", "0", stdin=script)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "! unknown command 'launch'" in out
    assert "entry_z changed 2 -> 2.3 by console" in out
    assert "KILL by console: FLAT" in out
    assert "HALTED" in out.split("KILL by console")[1]
    assert "Traceback" not in out + done.stderr


def test_a_pipe_that_ends_without_quit_leaves_the_service_trading(tmp_path: Path) -> None:
    """End of piped input is not `quit`: trading goes on until --duration, with no error."""
    config = write_config(tmp_path)
    done = tradebot("run", "--config", str(config), "--duration", "3", stdin="status\n")
    assert done.returncode == 0, done.stderr
    assert "MeanReversionV1 on sim" in done.stdout and "stopped after 3" in done.stdout
    assert " ERROR " not in done.stderr


def test_sigterm_stops_cleanly_with_the_journal_flushed(tmp_path: Path) -> None:
    """SIGTERM: the summary is printed and every row the service counted is on disk."""
    config = write_config(tmp_path)
    proc = trading(config)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    written = int(out.split("journal rows written ")[1].split()[0])
    with sqlite3.connect(tmp_path / "journal.db") as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        on_disk = sum(db.execute(f"select count(*) from {t}").fetchone()[0] for t in tables)
    assert on_disk >= written > 0


def test_a_second_service_on_the_same_journal_is_refused(tmp_path: Path) -> None:
    """Two services on one journal would both trade the account, and Slack would hand each
    command to one of them (a KILL could halt only one): the second exits 2 naming the first,
    and the first trades on."""
    config = write_config(tmp_path)
    first = trading(config)
    try:
        second = tradebot("run", "--config", str(config), "--duration", "1")
        assert second.returncode == 2
        assert f"already running on this journal (pid {first.pid} on" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 0


def test_a_bad_config_stops_start_up_with_the_key_and_value(tmp_path: Path) -> None:
    """An invalid value names the key, the value and the range; exit status 2, no traceback."""
    config = write_config(tmp_path, **{"strategy.entry_z_threshold": -1})
    done = tradebot("run", "--config", str(config), "--duration", "1")
    assert done.returncode == 2
    assert "strategy.entry_z_threshold" in done.stderr and "-1" in done.stderr
    assert "Traceback" not in done.stderr


def test_tradebot_kill_arms_the_file_the_service_watches(tmp_path: Path) -> None:
    """`tradebot kill` creates the configured kill file; --clear removes it."""
    config = write_config(tmp_path)
    assert tradebot("kill", "--config", str(config)).returncode == 0
    assert (tmp_path / "kill").exists()
    assert tradebot("kill", "--config", str(config), "--clear").returncode == 0
    assert not (tmp_path / "kill").exists()


def test_the_command_line_loads_no_heavy_library_before_a_command_needs_it() -> None:
    """A kill or a backtest must not pay for Slack, aiohttp, alpaca-py, pandas, matplotlib,
    sqlite-utils or nats at start-up: the parser and the dispatcher import them per command."""
    heavy = ("slack_bolt", "slack_sdk", "aiohttp", "alpaca", "pandas", "matplotlib",
             "sqlite_utils", "nats")  # fmt: skip
    probe = (
        "import sys, bot.cli; bot.cli._parser(); "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


SWAPPED = {"SLACK_BOT_TOKEN": "xapp-1-A1-secret-app", "SLACK_APP_TOKEN": "xoxb-1-secret-bot"}


@pytest.mark.parametrize(
    "command",
    [("run", "--duration", "5"), ("gateway",), ("cluster", "--duration", "5")],
    ids=["run", "gateway", "cluster"],
)
def test_swapped_slack_tokens_are_refused_at_start_naming_each_variable(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """An app-level token in SLACK_BOT_TOKEN and a bot token in SLACK_APP_TOKEN stop the start in
    one line that says which variable holds which kind, before anything starts (no journal, no
    NATS), and never shows a token."""
    config = write_config(tmp_path, **{"cluster.store_dir": str(tmp_path / "nats")})
    nats = f"nats://127.0.0.1:{free_port()}"  # nothing listens: the gateway would say so
    done = tradebot(*command, "--config", str(config), TRADEBOT_NATS_URL=nats, **SWAPPED)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"tradebot: {messages.SLACK_TOKENS_SWAPPED}"
    assert "secret" not in done.stdout + done.stderr
    assert not (tmp_path / "journal.db").exists() and not (tmp_path / "nats").exists()


def test_a_watchdog_given_an_app_token_for_its_bot_token_says_so() -> None:
    """`tradebot watchdog` posts with SLACK_BOT_TOKEN: an app-level token there is refused."""
    url = f"http://127.0.0.1:{free_port()}/health"
    given = {"SLACK_BOT_TOKEN": SWAPPED["SLACK_BOT_TOKEN"]}
    done = tradebot("watchdog", "--url", url, "--channel", "C1", "--duration", "1", **given)
    assert done.returncode == 2
    assert "SLACK_BOT_TOKEN holds an app-level token (xapp-" in done.stderr
    assert "not a bot token (xoxb-" in done.stderr and "secret" not in done.stderr


@pytest.mark.parametrize(
    ("bot", "app", "said"),
    [
        ("xoxp-1-secret", "xapp-1-secret", "SLACK_BOT_TOKEN holds a user token (xoxp-), not a bot"),
        ("xoxb-1-secret", "xoxb-2-secret", "SLACK_APP_TOKEN holds a bot token (xoxb-"),
        ("secret", "xapp-1-secret", "SLACK_BOT_TOKEN holds no Slack token"),
    ],
)
def test_a_token_of_the_wrong_kind_is_named_by_its_variable(bot: str, app: str, said: str) -> None:
    """Each variable's token is checked for its own kind; the refusal quotes none of it."""
    with pytest.raises(StartupError) as refused:
        slack_tokens.check(bot, app)
    assert said in str(refused.value) and "secret" not in str(refused.value)


def test_rotating_and_ordinary_tokens_of_the_right_kind_pass() -> None:
    """xoxb- and xapp- pass, and so does a rotating bot token (xoxe.xoxb-)."""
    slack_tokens.check("xoxb-1", "xapp-1")
    slack_tokens.check("xoxe.xoxb-1", "xapp-1")
    slack_tokens.check("xoxb-1", None)
