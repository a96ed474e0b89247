"""The backtest preview of a `set` at the console: printed while the confirmation waits; a
preview that fails or times out says so; the confirmation works whether or not it came."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from bot.console import Console, PipeLines
from ops.backtest.sessions import SessionSource
from tests.preview_support import SYMBOLS, BrokenSessions, HeldSessions, recorded
from tests.support import Harness, eventually, make_harness


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
