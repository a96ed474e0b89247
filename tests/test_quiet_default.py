"""A healthy default is quiet: the shipped config against a simulated day raises no flow
alert, and a halt or a person's pause silences the flow checks."""

from __future__ import annotations

from pathlib import Path

from bot.account import watched_parts
from ops.shared.results import Level
from ops.watch.monitor import DEADMAN, trade_flow
from strategy.types import TradingState
from strategy.venues.bars import synthetic_bars
from tests.support import START, Harness, bar, make_harness
from tests.test_commands import open_spy_position
from tests.test_engine import CALM

SYMBOLS = ("SPY", "QQQ", "IWM", "AAPL", "MSFT")  # the shipped config's


def levels(h: Harness) -> dict[str, Level]:
    return {r.key: r.level for r in trade_flow(watched_parts(h.service))}


async def test_the_shipped_config_is_quiet_over_a_simulated_day(tmp_path: Path) -> None:
    """A whole synthetic session on config.yaml's defaults: trades, and no flow alert."""
    h = make_harness(tmp_path)
    assert h.service.settings.symbols == SYMBOLS
    await h.push(*synthetic_bars(SYMBOLS, 7, START, count=390))
    assert h.service.gate.orders_today > 50  # the simulator trades a lot on purpose
    assert levels(h) == {"trade-flow": Level.OK, "no-trades": Level.OK}


async def test_no_flow_alerts_while_halted_or_paused_by_a_person(tmp_path: Path) -> None:
    """Too many orders and refused signals are not alerts while HALTED or paused by a person;
    a dead-man pause still counts orders."""
    h = make_harness(tmp_path, **{"monitoring.max_trades_per_day": 1})
    await open_spy_position(h)
    await h.push(bar("SPY", 22, 97.95))  # the exit: a second order
    assert levels(h)["trade-flow"] is Level.WARN
    h.service.set_state(TradingState.HALTED, "kill by U1", "U1")
    await h.push(*(bar("SPY", 23 + i, c) for i, c in enumerate([*CALM, 98.0])))
    h.clock.advance(5 * 3600)
    assert levels(h) == {"trade-flow": Level.OK, "no-trades": Level.OK}

    h.service.set_state(TradingState.PAUSED, "paused by U1", "U1")
    assert levels(h) == {"trade-flow": Level.OK, "no-trades": Level.OK}
    h.service.set_state(TradingState.PAUSED, f"{DEADMAN}: feed stale", "monitor")
    assert levels(h) == {"trade-flow": Level.WARN, "no-trades": Level.OK}
