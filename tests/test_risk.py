"""The risk gate: one test per refusal rule, the boundaries, and the counters."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from strategy.clock import ManualClock
from strategy.params import RiskLimits
from strategy.risk import RiskGate
from strategy.types import Intent, OrderRequest, OrderType, Side, TimeInForce, TradingState
from tests.support import START


@dataclass
class View:
    positions: dict[str, int] = field(default_factory=dict)
    working: set[str] = field(default_factory=set)
    gross: float = 0.0
    equity_now: float = 100_000.0
    day_start: float = 100_000.0
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)

    def position_qty(self, symbol: str) -> int:
        return self.positions.get(symbol, 0)

    def has_working_order(self, symbol: str) -> bool:
        return symbol in self.working

    def gross_exposure(self) -> float:
        return self.gross

    def equity(self) -> float:
        return self.equity_now

    def day_start_equity(self) -> float:
        return self.day_start

    def last_price(self, symbol: str) -> tuple[float, float] | None:
        return self.prices.get(symbol)


def order(
    qty: int = 10,
    side: Side = Side.BUY,
    limit: float | None = 100.0,
    intent: Intent = Intent.ENTRY,
    symbol: str = "SPY",
) -> OrderRequest:
    return OrderRequest(
        client_order_id=f"t-{symbol}-{qty}",
        symbol=symbol,
        side=side,
        qty=qty,
        type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
        tif=TimeInForce.IOC,
        limit_price=limit,
        decision_price=100.0,
        intent=intent,
        created_ts=START,
    )


LIMITS = RiskLimits(
    max_order_qty=100,
    max_order_notional=20_000,
    max_position_qty=150,
    max_gross_exposure=50_000,
    max_orders_per_day=5,
    max_orders_per_minute=3,
    max_daily_loss_pct=0.03,
    price_collar_pct=0.02,
    reference_max_age_sec=120,
    stale_bar_sec=180,
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=START)


@pytest.fixture
def gate(clock: ManualClock) -> RiskGate:
    return RiskGate(LIMITS, ["SPY", "QQQ"], clock)


@pytest.fixture
def view(clock: ManualClock) -> View:
    return View(prices={"SPY": (100.0, clock.now()), "QQQ": (100.0, clock.now())})


def test_an_order_within_every_limit_is_approved_and_counted(gate: RiskGate, view: View) -> None:
    """None means approved; the order counts toward today's orders."""
    assert gate.check(order(), view) is None
    assert gate.orders_today == 1


@pytest.mark.parametrize(
    ("change", "make", "rule", "numbers"),
    [
        ({}, dict(symbol="TSLA"), "symbol", "TSLA"),
        ({}, dict(qty=0), "qty", "0"),
        ({}, dict(qty=101), "max_order_qty", "101"),
        ({}, dict(qty=100, limit=201.0), "max_order_notional", "20,100.00"),
        ({"positions": {"SPY": 60}}, dict(qty=91), "max_position_qty", "151"),
        ({"gross": 45_000.0}, dict(qty=51), "max_gross_exposure", "50,100.00"),
        ({"working": {"SPY"}}, {}, "working_order", "SPY"),
        ({"prices": {}}, {}, "price_collar", "no reference price"),
        ({}, dict(limit=102.01), "price_collar", "2.01%"),
        ({"equity_now": 97_000.0}, {}, "daily_loss", "3.00%"),
    ],
)
def test_each_rule_refuses_with_its_id_and_numbers(
    gate: RiskGate,
    view: View,
    change: dict[str, object],
    make: dict[str, object],
    rule: str,
    numbers: str,
) -> None:
    """The denial names the rule and the reason carries the figures; nothing is counted."""
    for key, value in change.items():
        setattr(view, key, value)
    denial = gate.check(order(**make), view)  # type: ignore[arg-type]
    assert denial is not None
    assert denial.rule == rule
    assert numbers in denial.reason
    assert gate.orders_today == 0


def test_boundaries_are_inclusive_where_the_rule_says_exceeds(gate: RiskGate, view: View) -> None:
    """Exactly max qty, notional, position and a 2.00% collar pass."""
    view.positions = {"SPY": 50}
    assert gate.check(order(qty=100, limit=102.0), view) is None  # notional 10,200; pos 150


def test_stale_reference_price_and_stale_bar_are_refused(
    gate: RiskGate, view: View, clock: ManualClock
) -> None:
    """A last price older than reference_max_age_sec, or a bar older than stale_bar_sec."""
    clock.advance(121)
    denial = gate.check(order(), view)
    assert denial is not None and denial.rule == "price_collar" and "121s old" in denial.reason
    view.prices["SPY"] = (100.0, clock.now())
    denial = gate.check(order(), view, bar_ts=clock.now() - 181)
    assert denial is not None and denial.rule == "stale_bar"
    assert gate.check(order(), view, bar_ts=clock.now() - 180) is None


def test_paused_allows_exits_only_and_halted_allows_nothing(gate: RiskGate, view: View) -> None:
    """PAUSED refuses entries but lets a position be closed; HALTED refuses both."""
    view.positions = {"SPY": 10}
    exit_order = order(qty=10, side=Side.SELL, limit=None, intent=Intent.EXIT)
    gate.set_state(TradingState.PAUSED, "by U1")
    denial = gate.check(order(), view)
    assert denial is not None and denial.rule == "state" and "PAUSED" in denial.reason
    assert gate.check(exit_order, view) is None
    gate.set_state(TradingState.HALTED, "kill by U1")
    denial = gate.check(replace(exit_order, client_order_id="x2"), view)
    assert denial is not None and denial.rule == "state" and "kill by U1" in denial.reason


def test_an_exit_must_reduce_the_position(gate: RiskGate, view: View) -> None:
    """Selling more than the long position, or buying against a long, is refused."""
    view.positions = {"SPY": 10}
    too_big = order(qty=11, side=Side.SELL, limit=None, intent=Intent.EXIT)
    wrong_way = order(qty=5, side=Side.BUY, limit=None, intent=Intent.EXIT)
    for bad in (too_big, wrong_way):
        denial = gate.check(bad, view)
        assert denial is not None and denial.rule == "exit_exceeds_position"


def test_daily_loss_is_reported_not_acted_on_by_the_gate(gate: RiskGate, view: View) -> None:
    """Reaching max_daily_loss_pct is a denial with the reason; the gate never writes the
    state itself (its owner moves trading to REDUCING)."""
    view.equity_now = 96_999.0
    denial = gate.check_daily_loss(view)
    assert denial is not None and denial.rule == "daily_loss" and "daily loss" in denial.reason
    assert gate.state is TradingState.ACTIVE


def test_reducing_refuses_entries_and_allows_exits(gate: RiskGate, view: View) -> None:
    """REDUCING (an automatic risk breach) lets positions be closed and refuses new ones."""
    view.positions = {"SPY": 10}
    gate.set_state(TradingState.REDUCING, "daily loss 3.00%")
    denial = gate.check(order(), view)
    assert denial is not None and denial.rule == "state" and "REDUCING" in denial.reason
    assert gate.check(order(qty=10, side=Side.SELL, limit=None, intent=Intent.EXIT), view) is None


def test_order_rate_refuses_the_excess_and_recovers_after_a_minute(
    gate: RiskGate, view: View, clock: ManualClock
) -> None:
    """Three per minute: the fourth is refused (not queued); 60 s later it passes."""
    for i in range(3):
        assert gate.check(order(qty=1 + i), view) is None
    denial = gate.check(order(qty=9), view)
    assert denial is not None and denial.rule == "max_orders_per_minute"
    clock.advance(60)
    view.prices["SPY"] = (100.0, clock.now())
    assert gate.check(order(qty=9), view) is None


def test_orders_per_day_reset_on_the_next_new_york_day(
    gate: RiskGate, view: View, clock: ManualClock
) -> None:
    """Five a day: the sixth is refused until the New York date changes."""
    for i in range(5):
        clock.advance(61)
        view.prices["SPY"] = (100.0, clock.now())
        assert gate.check(order(qty=1 + i), view) is None
    clock.advance(61)
    view.prices["SPY"] = (100.0, clock.now())
    denial = gate.check(order(), view)
    assert denial is not None and denial.rule == "max_orders_per_day"
    clock.advance(24 * 3600)
    view.prices["SPY"] = (100.0, clock.now())
    assert gate.check(order(), view) is None
    assert gate.orders_today == 1
