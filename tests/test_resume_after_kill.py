"""A resume is bound to what it was asked on: confirmed after a kill (running or ended) it is
refused, "the state changed since you asked", on every route: the command core, the Slack
button, the console's y/N and the `tradebot resume` request file."""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path

import pytest

from bot.console import Console, PipeLines
from ops.safety.resume_request import ResumeRequest, resume_file
from ops.safety.seen import Seen
from ops.shared.results import CommandError, ConfirmRequest
from strategy.types import TradingState
from tests.slack_rig import Rig
from tests.support import eventually, make_harness
from tests.test_kill_switch import FAST, Market, holding, started


@pytest.mark.parametrize("kill_ended", [False, True])
async def test_a_resume_asked_while_paused_is_refused_after_a_kill(
    tmp_path: Path, kill_ended: bool
) -> None:
    """Paused, resume asked, then a KILL: confirming the resume (while the kill flattens, or
    after it reported flat) is refused and trading stays HALTED."""
    h = make_harness(tmp_path, **FAST)
    market = Market(h)
    await holding(h, market, SPY=10)
    await h.run("pause")
    request = await h.run("resume")
    assert isinstance(request, ConfirmRequest)
    kill = asyncio.create_task(h.service.kill("U2"))
    await eventually(lambda: h.service.kill_switch.running)
    if kill_ended:
        await market.until(kill)
        assert kill.result().flat
    with pytest.raises(CommandError) as refused:
        await h.core.confirm(request.nonce, "U1", "C1", "test")
    expected = "state changed since you asked" if kill_ended else "a kill is running"
    assert expected in str(refused.value)
    assert h.service.gate.state is TradingState.HALTED
    await market.until(kill)
    assert h.service.gate.state is TradingState.HALTED


async def test_a_resume_asked_after_the_kill_still_resumes(tmp_path: Path) -> None:
    """Asked on the HALT the kill left (nothing changed since), the resume goes ahead."""
    h = make_harness(tmp_path, **FAST)
    assert (await h.service.kill("U1")).flat
    request = await h.run("resume")
    assert isinstance(request, ConfirmRequest)
    await h.core.confirm(request.nonce, "U1", "C1", "test")
    assert h.service.gate.state is TradingState.ACTIVE


async def test_a_stale_resume_button_is_not_applied(rig: Rig) -> None:
    """Slack: the resume message of a PAUSE, clicked after a kill, says why it was not
    applied; trading stays HALTED."""
    await rig.command("pause")
    message = await rig.request("resume")
    assert (await rig.h.service.kill("U2")).flat
    await rig.click(message, "confirm")
    assert message.text.startswith("Not applied: the state changed since you asked")
    assert rig.h.service.gate.state is TradingState.HALTED


async def test_a_stale_console_yes_is_not_applied(tmp_path: Path) -> None:
    """Console: y typed after a kill came between the resume and its Confirm."""
    h = make_harness(tmp_path, **FAST)
    reader = asyncio.StreamReader()
    out = io.StringIO()
    running = asyncio.create_task(Console(h.core, PipeLines(reader), out).run())
    reader.feed_data(b"pause\nresume\n")
    await eventually(lambda: "Confirm? [y/N]" in out.getvalue())
    assert (await h.service.kill("U2")).flat
    reader.feed_data(b"y\nquit\n")
    assert await asyncio.wait_for(running, 5) is True
    assert "! the state changed since you asked: a kill was requested since" in out.getvalue()
    assert h.service.gate.state is TradingState.HALTED


async def test_a_resume_request_file_that_saw_another_state_is_refused(tmp_path: Path) -> None:
    """`tradebot resume` writes what it showed (kills, state): a request that saw PAUSED and
    no kill, taken after a kill, is refused and removed."""
    h, _ = await started(tmp_path)
    assert (await h.service.kill("U2")).flat
    request = resume_file(h.service.kill_file)
    staged = tmp_path / "staged"
    staged.write_text(ResumeRequest("alice", Seen(0, TradingState.PAUSED)).text())
    staged.replace(request)
    await eventually(lambda: not request.exists())
    result = h.service.kill_switch.status().resume_result
    assert result.startswith("refused: the state changed since you asked: a kill was")
    assert h.service.gate.state is TradingState.HALTED
    await h.service.stop()


async def test_a_resume_request_file_written_before_the_kill_is_refused(tmp_path: Path) -> None:
    """A request that saw nothing (no health endpoint to read) is bound to when it was
    written: one written before the kill never lifts it."""
    h, _ = await started(tmp_path)
    assert (await h.service.kill("U2")).flat
    staged = tmp_path / "staged"
    staged.write_text(ResumeRequest("alice").text())
    before_the_kill = time.time() - 60
    os.utime(staged, (before_the_kill, before_the_kill))
    request = resume_file(h.service.kill_file)
    os.replace(staged, request)  # appears at once, with its old time
    await eventually(lambda: not request.exists())
    assert h.service.kill_switch.status().resume_result.startswith("refused: the state changed")
    assert h.service.gate.state is TradingState.HALTED
    await h.service.stop()


def test_a_resume_request_says_what_it_saw_and_reads_back() -> None:
    """The request line round-trips; a count that is not one is refused."""
    request = ResumeRequest("alice", Seen(2, TradingState.HALTED))
    assert request.text() == "alice kills=2 state=HALTED\n"
    assert ResumeRequest.parse(request.text()) == request
    assert ResumeRequest.parse("bob\n") == ResumeRequest("bob")
    with pytest.raises(ValueError):
        ResumeRequest.parse("bob kills=two")
