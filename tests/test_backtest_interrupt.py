"""Ctrl-C at the terminal during a sweep stops `tradebot backtest` with one line and exit 130:
before, asyncio's KeyboardInterrupt came out as a traceback, and the cancelled points were
counted as done (the progress read 100%)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bench.backtest_bars import bars_file
from tests.support import REPO, write_config


async def test_ctrl_c_during_a_sweep_stops_it_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "backtest",
        "--data",
        str(bars_file(20_000)),
        "--sweep",
        "--config",
        str(config),
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert proc.stderr is not None
    seen: list[str] = []
    while not (line := (await asyncio.wait_for(proc.stderr.readline(), 120)).decode()).startswith(
        "sweep"
    ):
        assert line, "".join(seen)  # ended before its sweep began
        seen.append(line)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole group: the workers too
    rest = (await asyncio.wait_for(proc.stderr.read(), 120)).decode()
    await proc.wait()
    assert proc.returncode == 130, rest
    assert "tradebot backtest: stopped (Ctrl-C)" in rest
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest
    assert "sweep 100%" not in line + rest
