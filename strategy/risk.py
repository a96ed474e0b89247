"""The pre-trade risk gate: every order passes here; a refusal is a value, not an exception."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from strategy.clock import Clock
from strategy.market_day import day_bounds, trading_date
from strategy.params import RiskLimits
from strategy.types import Intent, OrderRequest, OrderType, TradingState

MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class Denial:
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class StateNow:
    """The trading state and why, replaced whole on every change: a worker thread about to send
    an order reads both with one attribute load, never a state paired with another's reason."""

    state: TradingState
    reason: str


class RiskView(Protocol):
    """What the gate reads from the book."""

    def position_qty(self, symbol: str) -> int: ...
    def has_working_order(self, symbol: str) -> bool: ...
    def gross_exposure(self) -> float: ...
    def equity(self) -> float: ...
    def day_start_equity(self) -> float: ...
    def last_price(self, symbol: str) -> tuple[float, float] | None: ...


class RiskGate:
    def __init__(
        self,
        limits: RiskLimits,
        symbols: Iterable[str],
        clock: Clock,
        state: TradingState = TradingState.ACTIVE,
    ) -> None:
        self._limits = limits
        self._symbols = frozenset(symbols)
        self._clock = clock
        self._now = StateNow(state, "")
        self._day = ""
        self._day_from = self._day_until = 0.0  # when `_day` starts and ends
        self._orders_today = 0
        self._recent: deque[float] = deque()
        self.market_open = True  # set from the venue's clock when trading regular hours only

    @property
    def state(self) -> TradingState:
        return self._now.state

    @property
    def state_reason(self) -> str:
        return self._now.reason

    @property
    def state_now(self) -> StateNow:
        """Safe to read from any thread (see StateNow)."""
        return self._now

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    @property
    def symbols(self) -> frozenset[str]:
        return self._symbols

    @property
    def orders_today(self) -> int:
        self._roll_day(self._clock.now())
        return self._orders_today

    def set_limits(self, limits: RiskLimits) -> None:
        self._limits = limits

    def record_sent(self, ts: float) -> None:
        """An order admitted at market time `ts` by an earlier process (a restarted cluster
        worker's, restored from its intents): it counts toward the day and minute limits."""
        self._count(ts)

    def set_state(self, state: TradingState, reason: str) -> None:
        self._now = StateNow(state, reason)

    def send_refusal(self, order: OrderRequest) -> str | None:
        """Asked again immediately before an order goes out (a HALT or a pause may have come
        while it waited for the rate limit or a worker thread): the reason it must not be
        sent, or None. A venue may ask it from the thread that sends: it reads only the
        state snapshot."""
        now = self._now  # `state_now`, without the property's call (twice an order)
        if now.state is TradingState.HALTED and order.intent is not Intent.FLATTEN:
            return f"trading HALTED before the order was sent ({now.reason})"
        if order.intent is Intent.ENTRY and not now.state.allows_entries:
            return f"trading {now.state} before the entry was sent ({now.reason})"
        return None

    def check(
        self, order: OrderRequest, view: RiskView, bar_ts: float | None = None
    ) -> Denial | None:
        """None means approved, and the order now counts toward the day and minute limits."""
        denial = self._state_rule(order) or self._basic_rules(order, view)
        if denial is None and order.intent is Intent.ENTRY and not self.market_open:
            denial = Denial("market_closed", "the market is closed: no new entries")
        if denial is None and order.intent is Intent.ENTRY:
            denial = self._entry_rules(order, view, bar_ts)
        if denial is None:
            self._count(self._clock.now())
        return denial

    def _state_rule(self, order: OrderRequest) -> Denial | None:
        now = self._now
        if now.state is TradingState.HALTED:
            return Denial("state", f"trading is HALTED ({now.reason or 'no reason'})")
        if order.intent is Intent.ENTRY and not now.state.allows_entries:
            return Denial("state", f"trading is {now.state}: exits only ({now.reason})")
        return None

    def _basic_rules(self, order: OrderRequest, view: RiskView) -> Denial | None:
        if order.symbol not in self._symbols:
            return Denial("symbol", f"{order.symbol} is not a configured symbol")
        if order.qty <= 0:
            return Denial("qty", f"order qty {order.qty} must be positive")
        if order.intent is not Intent.ENTRY:
            held = view.position_qty(order.symbol)
            if held == 0 or order.side.sign == (1 if held > 0 else -1) or order.qty > abs(held):
                return Denial(
                    "exit_exceeds_position",
                    f"{order.side} {order.qty} does not reduce the {held:+d} position",
                )
        if view.has_working_order(order.symbol):
            return Denial("working_order", f"{order.symbol} already has a working order")
        return None

    def _entry_rules(
        self, order: OrderRequest, view: RiskView, bar_ts: float | None
    ) -> Denial | None:
        lim = self._limits
        now = self._clock.now()
        notional = order.notional
        after = abs(view.position_qty(order.symbol) + order.side.sign * order.qty)
        if order.qty > lim.max_order_qty:
            return Denial(
                "max_order_qty", f"order qty {order.qty} exceeds max_order_qty {lim.max_order_qty}"
            )
        if notional > lim.max_order_notional:
            return Denial(
                "max_order_notional",
                f"order notional ${notional:,.2f} exceeds max_order_notional "
                f"${lim.max_order_notional:,.2f}",
            )
        if after > lim.max_position_qty:
            return Denial(
                "max_position_qty",
                f"position after fill {after} exceeds max_position_qty {lim.max_position_qty}",
            )
        gross = view.gross_exposure() + notional
        if gross > lim.max_gross_exposure:
            return Denial(
                "max_gross_exposure",
                f"gross exposure ${gross:,.2f} would exceed max_gross_exposure "
                f"${lim.max_gross_exposure:,.2f}",
            )
        denial = self.check_daily_loss(view) or self._count_rules(now)
        if denial is not None:
            return denial
        if order.type is OrderType.LIMIT and order.limit_price is not None:
            denial = self._collar(order.symbol, order.limit_price, view, now)
            if denial is not None:
                return denial
        if bar_ts is not None and now - bar_ts > lim.stale_bar_sec:
            return Denial(
                "stale_bar",
                f"bar is {now - bar_ts:.0f}s old, more than stale_bar_sec {lim.stale_bar_sec:g}",
            )
        return None

    def check_daily_loss(self, view: RiskView) -> Denial | None:
        """A denial once the day's loss reaches the limit; cheap enough for every fill. The gate
        only reports it: the state's owner moves trading to REDUCING."""
        start = view.day_start_equity()
        if start <= 0:
            return None
        loss = (start - view.equity()) / start
        if loss < self._limits.max_daily_loss_pct:
            return None
        limit = self._limits.max_daily_loss_pct
        return Denial("daily_loss", f"daily loss {loss:.2%} reached max_daily_loss_pct {limit:.2%}")

    def _count_rules(self, now: float) -> Denial | None:
        if not self._day_from <= now < self._day_until:  # the same day: no call
            self._roll_day(now)
        lim = self._limits
        if self._orders_today >= lim.max_orders_per_day:
            return Denial(
                "max_orders_per_day",
                f"{self._orders_today} orders today reached max_orders_per_day "
                f"{lim.max_orders_per_day}",
            )
        while self._recent and now - self._recent[0] >= MINUTE:
            self._recent.popleft()
        if len(self._recent) >= lim.max_orders_per_minute:
            return Denial(
                "max_orders_per_minute",
                f"{len(self._recent)} orders in the last minute reached max_orders_per_minute "
                f"{lim.max_orders_per_minute}",
            )
        return None

    def _collar(self, symbol: str, limit: float, view: RiskView, now: float) -> Denial | None:
        reference = view.last_price(symbol)
        if reference is None:
            return Denial("price_collar", f"no reference price for {symbol}")
        price, ts = reference
        age = now - ts
        if age > self._limits.reference_max_age_sec:
            return Denial("price_collar", f"reference price for {symbol} is {age:.0f}s old")
        off = abs(limit - price) / price
        if off > self._limits.price_collar_pct:
            return Denial(
                "price_collar",
                f"limit {limit:.2f} is {off:.2%} from last {price:.2f}, more than "
                f"price_collar_pct {self._limits.price_collar_pct:.2%}",
            )
        return None

    def _roll_day(self, now: float) -> None:
        if self._day_from <= now < self._day_until:
            return  # the same date: trading_date costs ~1.5 us, twice an order
        self._day_from, self._day_until = day_bounds(now)
        day = trading_date(now)
        if day != self._day:
            self._day = day
            self._orders_today = 0

    def _count(self, now: float) -> None:
        if not self._day_from <= now < self._day_until:
            self._roll_day(now)
        self._orders_today += 1
        self._recent.append(now)
