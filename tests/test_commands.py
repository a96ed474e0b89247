"""The command core: answers, confirmations, refusals that change nothing, and the kill path."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ops.shared.results import (
    CommandError,
    ConfigResult,
    ConfirmRequest,
    Done,
    HelpResult,
    KillReport,
    PnlResult,
    PositionsResult,
    SlippageResult,
    StatusResult,
)
from strategy.types import TradingState
from tests.support import Harness, bar, make_harness
from tests.test_engine import CALM


async def open_spy_position(h: Harness) -> int:
    await h.push(*(bar("SPY", i, c) for i, c in enumerate([*CALM, 98.0])))
    await h.push(bar("SPY", 21, 97.95, open_=97.85))
    position = h.service.book.position("SPY")
    assert position is not None
    return position.qty


def audit_rows(h: Harness) -> list[dict[str, object]]:
    h.journal.flush()
    return h.journal.query("select user, command, outcome, detail from commands order by id")


async def test_read_only_commands_answer_with_typed_results(tmp_path: Path) -> None:
    """status, pnl, positions, config, slippage and help each return their result type."""
    h = make_harness(tmp_path)
    qty = await open_spy_position(h)
    status = await h.run("status")
    assert isinstance(status, StatusResult)
    assert status.state is TradingState.ACTIVE
    assert [(p.symbol, p.qty) for p in status.positions] == [("SPY", qty)]
    assert isinstance(await h.run("pnl week"), PnlResult)
    positions = await h.run("positions")
    assert isinstance(positions, PositionsResult)
    assert [(r.symbol, r.book_qty, r.broker_qty) for r in positions.rows] == [("SPY", qty, qty)]
    config = await h.run("  CONFIG ")
    assert isinstance(config, ConfigResult)
    entry = next(line for line in config.lines if line.path == "strategy.entry_z_threshold")
    assert (entry.value, entry.source) == ("2", "file")
    slippage = await h.run("slippage")
    assert isinstance(slippage, SlippageResult) and slippage.count == 1
    assert isinstance(await h.run("/trade help"), HelpResult)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("launch", "unknown command 'launch'"),
        ("", "no command given"),
        ("set entry_z", "usage: set"),
        ("set entry_z abc", "entry_z"),
        ("set entry_z 99", "out of range"),
        ("set exit_z 3", "exit"),
        ("set nonsense 1", "unknown parameter"),
        ("set broker.name alpaca", "cannot be changed at runtime"),
        ("pnl decade", "unknown period"),
        ("status now please", "unexpected"),
        ("reset entry_z", "no runtime change"),
    ],
)
async def test_bad_commands_are_refused_and_change_nothing(
    tmp_path: Path, text: str, fragment: str
) -> None:
    """Each bad input gets a one-line explanation; settings and state stay as they were."""
    h = make_harness(tmp_path)
    before = h.service.settings
    with pytest.raises(CommandError) as refused:
        await h.run(text)
    assert fragment in str(refused.value)
    assert h.service.settings is before
    assert h.service.gate.state is TradingState.ACTIVE
    assert audit_rows(h)[-1]["outcome"] == "refused"


async def test_set_asks_then_applies_and_audits(tmp_path: Path) -> None:
    """set shows old -> new and the range, applies only on confirm, and journals who did it."""
    h = make_harness(tmp_path)
    request = await h.run("set entry_z 2.2")
    assert isinstance(request, ConfirmRequest)
    assert "strategy.entry_z_threshold: 2 -> 2.2" in request.lines
    assert any("keep their entry parameters" in line for line in request.lines)
    assert h.service.engine.params.entry_z == 2.0
    done = await h.core.confirm(request.nonce, "U1", "C1", "test")
    assert isinstance(done, Done) and "2 -> 2.2" in done.title
    assert h.service.engine.params.entry_z == 2.2
    assert h.service.settings.source("strategy.entry_z_threshold") == "override"
    h.journal.flush()
    (change,) = h.journal.query("select param, old, new, user, action from param_changes")
    assert change == {
        "param": "strategy.entry_z_threshold",
        "old": "2",
        "new": "2.2",
        "user": "U1",
        "action": "set",
    }


async def test_a_confirmed_set_survives_a_restart(tmp_path: Path) -> None:
    """The override is persisted in the journal and loaded by the next process."""
    h = make_harness(tmp_path)
    request = await h.run("set risk_pct 0.02")
    assert isinstance(request, ConfirmRequest)
    await h.core.confirm(request.nonce, "U1", "C1", "test")
    h.journal.close()
    again = make_harness(tmp_path)
    assert again.service.engine.params.risk_pct == 0.02
    assert again.service.settings.source("strategy.position_risk_pct") == "override"
    request = await again.run("reset risk_pct")
    assert isinstance(request, ConfirmRequest)
    await again.core.confirm(request.nonce, "U1", "C1", "test")
    assert again.service.engine.params.risk_pct == 0.01
    again.journal.close()


async def test_confirmations_expire_work_once_and_only_for_the_requester(tmp_path: Path) -> None:
    """Expired, second click and someone else's click are all refused with nothing applied."""
    h = make_harness(tmp_path)
    first = await h.run("set entry_z 2.5")
    assert isinstance(first, ConfirmRequest)
    with pytest.raises(CommandError, match="only <@U1>"):
        await h.core.confirm(first.nonce, "U2", "C1", "test")
    h.wall.t += 301
    with pytest.raises(CommandError, match="expired"):
        await h.core.confirm(first.nonce, "U1", "C1", "test")
    assert h.service.engine.params.entry_z == 2.0
    second = await h.run("set entry_z 2.5")
    assert isinstance(second, ConfirmRequest)
    await h.core.confirm(second.nonce, "U1", "C1", "test")
    with pytest.raises(CommandError, match="no longer valid"):
        await h.core.confirm(second.nonce, "U1", "C1", "test")
    outcomes = [(r["command"], r["outcome"]) for r in audit_rows(h)]
    assert ("confirm", "refused") in outcomes and ("confirm set", "ok") in outcomes


async def test_four_eyes_needs_a_different_operator(tmp_path: Path) -> None:
    """With four_eyes on, the requester cannot confirm; another operator can."""
    h = make_harness(tmp_path, four_eyes=True)
    request = await h.run("set exit_z 0.4", user="U1")
    assert isinstance(request, ConfirmRequest)
    with pytest.raises(CommandError, match="different operator"):
        await h.core.confirm(request.nonce, "U1", "C1", "test")
    done = await h.core.confirm(request.nonce, "U2", "C1", "test")
    assert isinstance(done, Done) and "U2 (asked by U1)" in done.title


async def test_pause_stops_entries_and_resume_needs_confirmation(tmp_path: Path) -> None:
    """PAUSED refuses new entries (journaled); resume asks first, then trading is ACTIVE."""
    h = make_harness(tmp_path)
    assert isinstance(await h.run("pause"), Done)
    await h.push(*(bar("SPY", i, c) for i, c in enumerate([*CALM, 98.0])))
    assert h.service.book.working_orders() == []
    h.journal.flush()
    assert [r["rule"] for r in h.journal.query("select rule from refusals")] == ["state"]
    request = await h.run("resume")
    assert isinstance(request, ConfirmRequest)
    assert h.service.gate.state is TradingState.PAUSED
    await h.core.confirm(request.nonce, "U1", "C1", "test")
    assert h.service.gate.state is TradingState.ACTIVE


async def feed_bars_until(h: Harness, task: asyncio.Task[object], start_minute: int) -> None:
    """Keep the simulated market moving (flatten orders fill on the next bar) until done."""
    minute = start_minute
    while not task.done():
        await h.push(bar("SPY", minute, 97.9), bar("QQQ", minute, 300.0))
        minute += 1
        await asyncio.sleep(0.01)


async def test_kill_halts_cancels_flattens_and_reports_each_exit(tmp_path: Path) -> None:
    """The preview names each close and the state now and after; confirmed: HALTED at once,
    broker flat, per-position exit with price and slippage."""
    h = make_harness(tmp_path, **{"kill.poll_sec": 0.01})
    qty = await open_spy_position(h)
    request = await h.run("kill")
    assert isinstance(request, ConfirmRequest)
    assert any(line.startswith(f"close SPY: +{qty} shares") for line in request.lines)
    assert request.lines[-1] == "state now ACTIVE; after the kill, HALTED until someone resumes"
    task = asyncio.create_task(h.core.confirm(request.nonce, "U1", "C1", "test"))
    await asyncio.sleep(0)
    assert h.service.gate.state is TradingState.HALTED
    await feed_bars_until(h, task, 22)
    report = task.result()
    assert isinstance(report, KillReport) and report.flat
    (exit_,) = report.exits
    assert (exit_.symbol, exit_.qty_before, exit_.filled_qty, exit_.remaining) == (
        "SPY",
        qty,
        qty,
        0,
    )
    assert exit_.avg_price is not None and exit_.slippage_bps is not None
    assert await h.broker.positions() == []
    assert h.service.book.position("SPY") is None


async def test_kill_retries_a_position_that_refuses_to_close(tmp_path: Path) -> None:
    """A flatten order rejected once is sent again until the broker is flat."""
    h = make_harness(tmp_path, **{"kill.poll_sec": 0.01})
    await open_spy_position(h)
    h.broker.refuse_next_close("SPY", times=1)
    task = asyncio.create_task(h.service.kill("U1"))
    await feed_bars_until(h, task, 22)
    report = task.result()
    assert report.flat
    assert await h.broker.positions() == []
