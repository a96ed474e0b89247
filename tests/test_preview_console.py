"""The backtest preview of a `set` at the console: printed while the confirmation waits; a
preview that fails or times out says so; the confirmation works whether or not it came."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

from bot.console import Console, PipeLines
from ops.backtest.sessions import SessionSource
from strategy.market_day import trading_date
from tests.preview_support import (
    SYMBOLS,
    BrokenSessions,
    HeldSessions,
    recorded,
    session_bars,
    write_csv,
)
from tests.support import REPO, Harness, eventually, make_harness, write_config


async def console_for(
    tmp_path: Path, history: SessionSource, **config: object
) -> tuple[Harness, asyncio.StreamReader, io.StringIO, asyncio.Task[bool]]:
    h = make_harness(tmp_path, history=history, **{"strategy.symbols": SYMBOLS, **config})
    reader, out = asyncio.StreamReader(), io.StringIO()
    running = asyncio.create_task(Console(h.core, PipeLines(reader), out).run())
    return h, reader, out, running


async def test_set_prints_the_backtest_of_each_value_then_confirms(tmp_path: Path) -> None:
    h, reader, out, running = await console_for(tmp_path, recorded(days=5))
    reader.feed_data(b"set entry_z 2.6\n")
    await eventually(lambda: "max drawdown" in out.getvalue(), within=60)
    text = out.getvalue()
    assert "backtest of the last 5 sessions with each value: computing..." in text
    assert "backtest of the last 5 sessions (2026-01-07 .. 2026-01-13" in text
    assert "round trips" in text and "P&L after costs" in text
    assert h.service.engine.params.entry_z == 2.0  # the preview changed nothing
    reader.feed_data(b"y\nquit\n")
    assert await asyncio.wait_for(running, 10) is True
    assert h.service.engine.params.entry_z == 2.6


async def test_a_failing_preview_says_so_and_confirm_still_works(tmp_path: Path) -> None:
    h, reader, out, running = await console_for(tmp_path, BrokenSessions())
    reader.feed_data(b"set entry_z 2.6\n")
    await eventually(lambda: "backtest preview failed" in out.getvalue())
    assert "RuntimeError: history store unreachable" in out.getvalue()
    assert "Traceback" not in out.getvalue()
    reader.feed_data(b"y\nquit\n")
    assert await asyncio.wait_for(running, 10) is True
    assert h.service.engine.params.entry_z == 2.6


async def test_a_preview_that_times_out_says_so_and_confirm_still_works(tmp_path: Path) -> None:
    held = HeldSessions(recorded(days=5))  # never released
    h, reader, out, running = await console_for(
        tmp_path, held, **{"confirm.preview_timeout_sec": 1}
    )
    reader.feed_data(b"set entry_z 2.6\n")
    await eventually(lambda: "timed out after 1 s" in out.getvalue())
    reader.feed_data(b"y\nquit\n")
    assert await asyncio.wait_for(running, 10) is True
    assert h.service.engine.params.entry_z == 2.6


async def test_an_answer_before_the_preview_works_and_nothing_late_is_printed(
    tmp_path: Path,
) -> None:
    held = HeldSessions(recorded(days=5))
    h, reader, out, running = await console_for(tmp_path, held)
    reader.feed_data(b"set entry_z 2.6\ny\n")
    await eventually(lambda: h.service.engine.params.entry_z == 2.6)
    held.release.set()
    reader.feed_data(b"status\nquit\n")
    assert await asyncio.wait_for(running, 10) is True
    assert "computing..." in out.getvalue() and "round trips" not in out.getvalue()


async def test_tradebot_run_previews_a_set_on_the_replay_it_has_passed(tmp_path: Path) -> None:
    """`tradebot run --data` at a console (a pipe): once the replay is done, `set` shows the
    backtest of the file's last 5 sessions; answered n, nothing changes."""
    data = write_csv(tmp_path / "week.csv", session_bars(6))
    config = write_config(tmp_path, **{"strategy.symbols": SYMBOLS})
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALPACA_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--config",
        str(config),
        "--data",
        str(data),
        "--speed",
        "0",
        cwd=REPO,
        env={k: v for k, v in clean.items() if not k.startswith("TRADEBOT_")},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()

    async def collect(stream: asyncio.StreamReader, into: bytearray) -> None:
        while chunk := await stream.read(4096):
            into.extend(chunk)

    readers = [
        asyncio.create_task(collect(proc.stdout, out)),
        asyncio.create_task(collect(proc.stderr, err)),
    ]
    try:
        await eventually(lambda: b"replay finished" in out + err, within=120)
        proc.stdin.write(b"set entry_z 2.6\n")
        await eventually(lambda: b"max drawdown" in out, within=60)
        proc.stdin.write(b"n\nquit\n")
        await asyncio.wait_for(proc.wait(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await asyncio.gather(*readers)
    text = out.decode()
    dates = sorted({trading_date(b.ts) for b in session_bars(6)})
    assert f"backtest of the last 5 sessions ({dates[-5]} .. {dates[-1]}" in text
    assert "round trips" in text and "P&L after costs" in text
    assert "Cancelled by console; nothing changed." in text
    assert proc.returncode == 0, err.decode()[-2000:]
