"""Equity, gross exposure and buying power are kept as fills, marks and orders change them
(RunningSum), not summed over every position and working order for each order: over random
sequences their values equal the sums from scratch, and so do the decisions made on them."""

from __future__ import annotations

import random

import pytest

from strategy.book import Book
from strategy.clock import ManualClock
from strategy.params import RiskLimits, StrategyParams
from strategy.recorder import MemoryRecorder
from strategy.risk import RiskGate
from strategy.running_sum import RESUM_AFTER, RunningSum
from strategy.types import (
    Bar,
    Intent,
    OrderRequest,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from strategy.venue import OrderRejected
from strategy.venues.sim import SimBroker, SimSettings

SYMBOLS = [f"S{i:02d}" for i in range(24)]
STEPS = 1_500
# tight enough that exposure, daily loss and buying power each refuse some orders
LIMITS = RiskLimits(
    max_order_qty=400,
    max_order_notional=40_000.0,
    max_position_qty=600,
    max_gross_exposure=180_000.0,
    max_orders_per_day=100_000,
    max_orders_per_minute=100_000,
    max_daily_loss_pct=0.002,
    price_collar_pct=0.05,
    reference_max_age_sec=1e9,
    stale_bar_sec=1e9,
)
CLOSE = pytest.approx  # the kept sums round differently from a loop: a few ulps apart


def commitment(order: OrderRequest, holdings: dict[str, int], last: dict[str, float]) -> float:
    """SimBroker's rule: the part of an order that adds to |position|, at its limit price or
    the last price."""
    held = holdings.get(order.symbol, 0)
    reducing = min(order.qty, abs(held)) if held and (held > 0) != (order.side is Side.BUY) else 0
    return (order.qty - reducing) * (order.limit_price or last[order.symbol])


class FromScratch:
    """The book as the gate reads it, with equity and gross exposure summed over every open
    position at its last price, as they were before they were kept."""

    def __init__(self, book: Book) -> None:
        self._book = book

    def position_qty(self, symbol: str) -> int:
        return self._book.position_qty(symbol)

    def has_working_order(self, symbol: str) -> bool:
        return self._book.has_working_order(symbol)

    def day_start_equity(self) -> float:
        return self._book.day_start_equity()

    def last_price(self, symbol: str) -> tuple[float, float] | None:
        return self._book.last_price(symbol)

    def _price(self, symbol: str, avg_price: float) -> float:
        last = self._book.last_price(symbol)
        return last[0] if last is not None else avg_price

    def equity(self) -> float:
        positions = self._book.positions()
        return self._book.cash + sum(p.qty * self._price(p.symbol, p.avg_price) for p in positions)

    def gross_exposure(self) -> float:
        positions = self._book.positions()
        return sum(abs(p.qty) * self._price(p.symbol, p.avg_price) for p in positions)


class Rig:
    """A simulated broker and a book fed by its updates, with the last price of every symbol
    and every order sent (to sum the broker's commitments from scratch)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = ManualClock(start=1_000_000.0)
        self.broker = SimBroker(
            SimSettings(starting_cash=150_000.0, partial_fill_prob=0.3, seed=seed), self.clock
        )
        self.book = Book(150_000.0, self.clock, MemoryRecorder())
        self.book.start_day("d1")
        self.broker.subscribe(self.book.apply)
        self.gate = RiskGate(LIMITS, SYMBOLS, self.clock)
        self.scratch_gate = RiskGate(LIMITS, SYMBOLS, self.clock)
        self.last = {s: self.rng.uniform(20.0, 300.0) for s in SYMBOLS[:12]}
        self.sent: dict[str, OrderRequest] = {}
        self.serial = 0
        self.refused: dict[str, int] = {}
        for symbol, price in self.last.items():
            self.mark(symbol, price)

    def price(self, symbol: str) -> float:
        return round(self.last[symbol] * self.rng.uniform(0.97, 1.03), 4)

    def mark(self, symbol: str, price: float) -> None:
        self.last[symbol] = price
        self.broker.mark(symbol, price)
        self.book.mark(symbol, price, self.clock.now())

    def bar(self, symbol: str) -> None:
        open_, close = self.price(symbol), self.price(symbol)
        self.clock.advance(1.0)
        self.last[symbol] = close
        self.book.mark(symbol, close, self.clock.now())
        self.broker.on_bar(Bar(symbol, self.clock.now(), open_, open_, open_, close, 100.0))

    def order(self) -> OrderRequest:
        self.serial += 1
        symbol = self.rng.choice(list(self.last))
        side = self.rng.choice([Side.BUY, Side.SELL])
        limit = self.rng.random() < 0.5
        price = self.price(symbol) if limit else None
        return OrderRequest(
            f"o{self.serial}",
            symbol,
            side,
            self.rng.randint(1, 400),
            OrderType.LIMIT if limit else OrderType.MARKET,
            self.rng.choice([TimeInForce.DAY, TimeInForce.IOC]),
            price,
            price or self.last[symbol],
            Intent.ENTRY,
            self.clock.now(),
        )

    async def submit(self, order: OrderRequest, gated: bool) -> None:
        """Through the gate first, or (to reach the broker's own limit) straight to it."""
        denial = self.gate.check(order, self.book)
        scratch = self.scratch_gate.check(order, FromScratch(self.book))
        # the same rule; its reason's cents may round the other way
        assert (denial and denial.rule) == (scratch and scratch.rule)
        if denial is not None and gated:
            self.refused[denial.rule] = self.refused.get(denial.rule, 0) + 1
            return
        holdings, _, power = await self.broker_from_scratch()
        cost = commitment(order, holdings, self.last)
        self.book.add_order(order, StrategyParams())
        try:
            await self.broker.submit(order)
        except OrderRejected as exc:
            assert cost > power, exc
            self.refused["buying_power"] = self.refused.get("buying_power", 0) + 1
            self.book.apply(OrderUpdate.rejected(order, str(exc), self.clock.now()))
            return
        assert cost <= power
        self.sent[order.client_order_id] = order

    async def broker_from_scratch(self) -> tuple[dict[str, int], float, float]:
        """(holdings, equity, buying power) from the broker's positions, cash and open orders."""
        positions = await self.broker.positions()
        cash = (await self.broker.account()).cash
        equity = cash + sum(p.qty * p.market_price for p in positions)
        holdings = {p.symbol: p.qty for p in positions}
        working = [self.sent[u.client_order_id] for u in await self.broker.open_orders()]
        committed = sum(commitment(order, holdings, self.last) for order in working)
        return holdings, equity, equity - committed

    async def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.35:
            await self.submit(self.order(), gated=self.rng.random() < 0.6)
        elif roll < 0.7:
            self.bar(self.rng.choice(list(self.last)))
        elif roll < 0.9:
            symbol = self.rng.choice(SYMBOLS)  # some never traded before
            self.mark(symbol, self.price(symbol) if symbol in self.last else 50.0)
        elif roll < 0.995:
            working = await self.broker.open_orders()
            if working:
                await self.broker.cancel(self.rng.choice(working).client_order_id)
        else:
            await self.broker.cancel_all()

    async def check(self) -> None:
        scratch = FromScratch(self.book)
        assert self.book.equity() == CLOSE(scratch.equity())
        assert self.book.gross_exposure() == CLOSE(scratch.gross_exposure())
        loss = self.gate.check_daily_loss(self.book)
        assert (loss is None) == (self.gate.check_daily_loss(scratch) is None)
        if loss is not None:
            self.refused["daily_loss"] = self.refused.get("daily_loss", 0) + 1
        account = await self.broker.account()
        _, equity, buying_power = await self.broker_from_scratch()
        assert account.equity == CLOSE(equity)
        assert account.buying_power == CLOSE(buying_power)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_kept_equity_exposure_and_buying_power_equal_the_sums_from_scratch(
    seed: int,
) -> None:
    """After every order, fill, mark and cancel of a random sequence, the book's equity and
    gross exposure and the simulated broker's equity and buying power equal their sums from
    scratch, and the gate and the broker refuse exactly the orders the sums from scratch
    refuse."""
    rig = Rig(seed)
    for _ in range(STEPS):
        await rig.step()
        await rig.check()
    assert len(rig.book.positions()) > 5 and len(rig.sent) > 100
    reached = {rule for rule, times in rig.refused.items() if times >= 3}
    assert {"max_gross_exposure", "daily_loss", "buying_power"} <= reached, rig.refused


def test_a_running_sum_is_added_again_from_scratch_so_rounding_never_piles_up() -> None:
    """A change that rounds away a small value (1 next to 1e16) is made good within
    RESUM_AFTER changes, and a sum left with no value is exactly zero."""
    kept = RunningSum()
    kept.set("big", 1e16)
    kept.set("small", 1.0)
    kept.set("big", 0.0)
    assert kept.total == 0.0  # the 1.0 was lost in 1e16's rounding
    for _ in range(RESUM_AFTER):
        kept.set("big", 0.0)
    assert kept.total == 1.0
    kept.drop("big")
    kept.drop("small")
    assert kept.total == 0.0
