"""The console in process: lines typed through prompt_toolkit (a pipe input standing in for
the keyboard), lines from a pipe, and refusal log lines rate-limited with a count."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import pytest
from prompt_toolkit import PromptSession
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from bot.console import Console, PipeLines, PromptLines
from bot.logs import RepeatLimiter, stderr_handler
from strategy.clock import ManualClock
from strategy.types import TradingState
from tests.support import bar, eventually, make_harness
from tests.test_engine import CALM


def refusal(symbol: str, rule: str, reason: str = "trading is PAUSED") -> logging.LogRecord:
    record = logging.LogRecord(
        "strategy.engine", logging.INFO, __file__, 1, "refused buy 1 %s: %s", (symbol, reason), None
    )
    record.refusal = (symbol, rule)
    return record


def test_repeated_refusals_pass_once_per_window_then_with_a_count() -> None:
    """Per (symbol, rule): the first passes, repeats within 60 s are held, the next one after
    the window passes saying how many were held; other keys and other lines are untouched."""
    clock = ManualClock(1000.0)
    limiter = RepeatLimiter(window=60.0, clock=clock.now)
    assert limiter.filter(refusal("SPY", "state"))
    clock.advance(1.0)
    assert not limiter.filter(refusal("SPY", "state"))
    assert not limiter.filter(refusal("SPY", "state"))
    assert limiter.filter(refusal("QQQ", "state"))
    assert limiter.filter(refusal("SPY", "max_qty"))
    assert limiter.filter(logging.LogRecord("x", logging.INFO, "", 1, "fill", None, None))
    clock.advance(59.0)
    later = refusal("SPY", "state")
    assert limiter.filter(later)
    assert later.getMessage() == "refused buy 1 SPY: trading is PAUSED (2 more like it held back)"
    clock.advance(1.0)
    assert not limiter.filter(refusal("SPY", "state"))


async def test_a_paused_engine_logs_its_refusals_once_through_the_service_handler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The engine's refusal lines carry their (symbol, rule): with the service's stderr
    handler, a paused engine refusing SPY entry after entry logs it once."""
    h = make_harness(tmp_path, **{"strategy.signal_cooldown_sec": 0})
    caplog.set_level(logging.INFO, logger="strategy.engine")
    engine_log = logging.getLogger("strategy.engine")
    handler = stderr_handler(RepeatLimiter(clock=lambda: 0.0))  # all within one window
    engine_log.addHandler(handler)
    try:
        await h.run("pause")
        assert h.service.gate.state is TradingState.PAUSED
        dips = [*CALM, 98.0, *CALM, 98.0, *CALM, 98.0]  # an entry signal after each calm
        await h.push(*(bar("SPY", i, close) for i, close in enumerate(dips)))
    finally:
        engine_log.removeHandler(handler)
    assert h.service.engine.counters.refusals >= 2
    assert capsys.readouterr().err.count("refused buy") == 1
    keys = {r.refusal for r in caplog.records if hasattr(r, "refusal")}  # type: ignore[attr-defined]
    assert keys == {("SPY", "state")}


async def test_typed_lines_run_commands_and_confirmations(tmp_path: Path) -> None:
    """Typed at the prompt (prompt_toolkit): a command, a confirmation answered y, then Ctrl-D
    ends the console without `quit`."""
    h = make_harness(tmp_path)
    with create_pipe_input() as keys, create_app_session(input=keys, output=DummyOutput()):
        lines = PromptLines(PromptSession(input=keys, output=DummyOutput()))
        running = asyncio.create_task(Console(h.core, lines, io.StringIO()).run())
        keys.send_text("set entry_z 2.3\r")
        keys.send_text("y\r")  # typed ahead: read by the confirmation's own prompt
        await eventually(lambda: h.service.engine.params.entry_z == 2.3)
        keys.send_text("\x04")  # Ctrl-D
        assert await asyncio.wait_for(running, 5) is False


async def test_piped_lines_answer_on_the_given_stream_and_quit(tmp_path: Path) -> None:
    """From a pipe: the prompt and the answers go to the console's stream; `quit` says so."""
    h = make_harness(tmp_path)
    reader = asyncio.StreamReader()
    reader.feed_data(b"status\nquit\n")
    out = io.StringIO()
    assert await Console(h.core, PipeLines(reader), out).run() is True
    assert "trade> " in out.getvalue() and "MeanReversionV1 on sim" in out.getvalue()
