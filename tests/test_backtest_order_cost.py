"""What an order costs a backtest, in Python calls (deterministic, unlike time): the engine times
nothing there, the replay builds no bar its engine does not see, and an ack the simulated venue
both emits and returns is taken once. The decisions stay the bar-by-bar replay's
(tests/test_backtest_fast.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType

import pytest

from ops.backtest.run import Outcome, Setup, run
from strategy.types import OrderStatus, OrderUpdate
from strategy.venues.bar_columns import BarColumns
from tests.support import bar, make_harness
from tests.test_backtest_fast import _sessions, _setup
from tests.test_engine import CALM

# Python calls an order adds to a pass (its decision, gate, book, simulated broker, fills and
# the replay's visits): ~125-133 before these were trimmed, ~95-101 after
CALLS_PER_ORDER = 115


async def _counted(setup: Setup, bars: BarColumns) -> tuple[Outcome, int]:
    """The outcome of a pass and the Python calls it made (coroutine steps included)."""
    calls = 0

    def count(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(count)
    try:
        outcome = await run(bars, setup)
    finally:
        sys.setprofile(None)
    return outcome, calls


@pytest.mark.parametrize("seed", [3, 29])
async def test_an_order_costs_a_backtest_pass_a_bounded_number_of_python_calls(
    seed: int,
) -> None:
    """(the pass - the same pass with no entry) / orders stays within CALLS_PER_ORDER."""
    bars = _sessions(seed, days=3)
    setup = _setup(seed)
    outcome, calls = await _counted(setup, BarColumns.of(bars))
    _, quiet = await _counted(setup.with_params(entry_z=50.0), BarColumns.of(bars))
    assert outcome.orders > 50
    assert (calls - quiet) / outcome.orders <= CALLS_PER_ORDER


async def test_an_ack_the_venue_both_emits_and_returns_is_applied_and_announced_once(
    tmp_path: Path,
) -> None:
    """The simulated venue hands its ack to its listeners and returns it from the submit: the
    order manager's listener hears ACCEPTED once, then the fill."""
    h = make_harness(tmp_path)
    announced: list[OrderUpdate] = []
    h.service.announce_updates(announced.append)
    await h.push(*(bar("SPY", i, c) for i, c in enumerate([*CALM, 98.0])))
    (entry,) = h.service.book.working_orders()
    await h.push(bar("SPY", 21, 97.95, open_=97.85))
    coid = entry.request.client_order_id
    heard = [u.status for u in announced if u.client_order_id == coid]
    assert heard == [OrderStatus.ACCEPTED, OrderStatus.FILLED]
