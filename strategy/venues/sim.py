"""The simulated broker: its own ledger, fills at the next bar's open, IOC and partial fills.

It implements the same Broker protocol as the Alpaca venue, so the engine cannot tell them
apart. Orders execute on the next bar of their symbol (a latency of one bar): market orders
at that open with slippage, limit orders only if the open is marketable.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass

from strategy.clock import Clock
from strategy.running_sum import RunningSum
from strategy.types import (
    Account,
    Bar,
    BrokerPosition,
    Charge,
    CloseAllResult,
    Fill,
    Intent,
    MarketClock,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from strategy.venue import (
    OrderListener,
    OrderRejected,
    SendCheck,
    SendRefused,
    WriteCheck,
    allow_every_order,
    allow_writes,
)

DAY = 86_400.0
# Final orders kept after they finish (get_order, an idempotent re-submit), oldest dropped first.
MAX_FINISHED = 10_000


@dataclass(frozen=True, slots=True)
class SimSettings:
    """Market orders fill `slippage_bps` worse than the open: exactly, or drawn from a normal
    distribution with `slippage_std_bps`, or drawn from `slippage_samples_bps` (e.g. the
    realized slippage of live fills) when given."""

    starting_cash: float = 100_000.0
    slippage_bps: float = 1.0
    slippage_std_bps: float = 0.0
    slippage_samples_bps: tuple[float, ...] = ()
    commission_per_share: float = 0.005
    partial_fill_prob: float = 0.0
    seed: int = 7
    buying_power_multiple: float = 1.0


@dataclass(slots=True)
class _Order:
    request: OrderRequest
    update: OrderUpdate
    notional: float = 0.0  # filled qty x price, for the average


@dataclass(slots=True)
class _Holding:
    qty: int = 0
    avg_price: float = 0.0


class SimBroker:
    name = "sim"

    def __init__(self, settings: SimSettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._rng = random.Random(settings.seed)
        self._cash = settings.starting_cash
        self._last: dict[str, float] = {}
        self._holdings: dict[str, _Holding] = {}
        self._orders: dict[str, _Order] = {}  # working orders only
        # the last MAX_FINISHED final ones, oldest first: popitem(last=False) is O(1), where a
        # dict's next(iter(...)) walks every dead slot its emptied front leaves
        self._finished: OrderedDict[str, _Order] = OrderedDict()
        self._working: dict[str, list[_Order]] = {}
        # kept as holdings, orders and prices change (RunningSum), not summed on every submit:
        self._worth = RunningSum()  # qty x last price of each holding
        self._committed = RunningSum()  # each symbol's working orders' _exposure_cost
        self._listeners: list[OrderListener] = []
        self._send_check: SendCheck = allow_every_order
        self._write_check: WriteCheck = allow_writes
        self._refusals: dict[str, int] = {}
        self._serial = 0

    def subscribe(self, listener: OrderListener) -> None:
        self._listeners.append(listener)

    def guard(self, check: SendCheck) -> None:
        self._send_check = check

    def guard_writes(self, check: WriteCheck) -> None:
        self._write_check = check

    def _may_write(self) -> None:
        """Asked first by the calls that change the ledger besides `submit` (which asks it
        after the order's own check)."""
        refusal = self._write_check()
        if refusal is not None:
            raise SendRefused(refusal)

    def refuse_next_close(self, symbol: str, times: int = 1) -> None:
        """For tests and drills: reject the next `times` flatten orders for `symbol`."""
        self._refusals[symbol] = self._refusals.get(symbol, 0) + times

    def _emit(
        self, order: _Order, status: OrderStatus, fill: Fill | None = None, reason: str = ""
    ) -> OrderUpdate:
        filled = order.update.filled_qty + (fill.qty if fill else 0)
        if fill is not None:
            order.notional += fill.qty * fill.price
        last = order.update  # built field by field: dataclasses.replace costs 4x as much
        update = OrderUpdate(
            last.client_order_id,
            last.symbol,
            status,
            filled,
            order.notional / filled if filled else None,
            self._clock.now(),
            fill,
            reason,
            last.broker_order_id,
            last.side,
            last.qty,
        )
        order.update = update
        if status.is_final:
            self._retire(order)
        for listener in self._listeners:
            listener(update)
        return update

    def _retire(self, order: _Order) -> None:
        coid = order.request.client_order_id
        self._orders.pop(coid, None)
        self._finished[coid] = order
        if len(self._finished) > MAX_FINISHED:
            self._finished.popitem(last=False)

    def _find(self, client_order_id: str) -> _Order | None:
        return self._orders.get(client_order_id) or self._finished.get(client_order_id)

    # -- market ----------------------------------------------------------------------------

    def mark(self, symbol: str, price: float) -> None:
        """The latest price of a symbol with no working order (what `on_bar` would do)."""
        self._last[symbol] = price
        if symbol in self._holdings or symbol in self._working:
            self._revalue(symbol)

    def on_bar(self, bar: Bar) -> None:
        self.on_prices(bar.symbol, bar.open, bar.close)

    def on_prices(self, symbol: str, open_: float, close: float) -> None:
        """`on_bar` from the two prices it reads (a backtest's replay builds no Bar for a bar
        its engine does not see)."""
        self._last[symbol] = close
        working = self._working.get(symbol)
        if not working:  # nothing fills: only a holding's worth moves (`_revalue`, inlined)
            holding = self._holdings.get(symbol)
            if holding is not None:
                self._worth.set(symbol, holding.qty * close)
            return
        self._working[symbol] = []
        for order in working:
            if order.update.status.is_final:
                continue
            if self._execute(order, open_):
                self._working[symbol].append(order)
        self._revalue(symbol)

    def _revalue(self, symbol: str) -> None:
        """The symbol's holding and working orders at its price and holding now (after a new
        price, or a bar's fills)."""
        holding = self._holdings.get(symbol)
        if holding is not None:
            self._worth.set(symbol, holding.qty * self._last.get(symbol, holding.avg_price))
        else:
            self._worth.drop(symbol)
        if symbol in self._working:
            self._recommit(symbol)

    def _recommit(self, symbol: str) -> None:
        cost = 0.0
        for order in self._working.get(symbol, ()):
            cost += self._exposure_cost(order.request)
        if cost:
            self._committed.set(symbol, cost)
        else:
            self._committed.drop(symbol)

    def _execute(self, order: _Order, open_: float) -> bool:
        """Try to fill at this open; True if the order keeps working (DAY remainder)."""
        req = order.request
        if req.intent is Intent.FLATTEN and self._refusals.get(req.symbol, 0) > 0:
            self._refusals[req.symbol] -= 1
            self._emit(order, OrderStatus.REJECTED, reason="simulated refusal")
            return False
        if req.type is OrderType.MARKET:
            price = open_ * (1 + req.side.sign * self._slippage_bps() / 1e4)
        else:
            limit = req.reference_price
            marketable = open_ <= limit if req.side is Side.BUY else open_ >= limit
            if not marketable:
                if req.tif is TimeInForce.IOC:
                    self._emit(order, OrderStatus.CANCELED, reason="IOC limit not marketable")
                    return False
                return True
            price = min(limit, open_) if req.side is Side.BUY else max(limit, open_)
        remaining = req.qty - order.update.filled_qty
        qty = remaining
        if remaining > 1 and self._rng.random() < self._settings.partial_fill_prob:
            qty = self._rng.randint(1, remaining - 1)
        self._book_fill(order, qty, round(price, 4))
        if qty == remaining:
            return False
        if req.tif is TimeInForce.IOC:
            self._emit(order, OrderStatus.CANCELED, reason="IOC remainder canceled")
            return False
        return True

    def _slippage_bps(self) -> float:
        settings = self._settings
        if settings.slippage_samples_bps:
            return self._rng.choice(settings.slippage_samples_bps)
        if settings.slippage_std_bps > 0:
            return self._rng.gauss(settings.slippage_bps, settings.slippage_std_bps)
        return settings.slippage_bps

    def _book_fill(self, order: _Order, qty: int, price: float) -> None:
        req = order.request
        commission = round(qty * self._settings.commission_per_share, 6)
        signed = req.side.sign * qty
        self._cash -= signed * price + commission
        holding = self._holdings.setdefault(req.symbol, _Holding())
        if holding.qty == 0 or (holding.qty > 0) == (signed > 0):
            total = holding.qty + signed
            holding.avg_price = (holding.avg_price * holding.qty + price * signed) / total
            holding.qty = total
        else:
            remainder = holding.qty + signed
            if remainder != 0 and (remainder > 0) != (holding.qty > 0):
                holding.avg_price = price
            holding.qty = remainder
        if holding.qty == 0:  # only open holdings are kept
            del self._holdings[req.symbol]
        fill = Fill(
            req.client_order_id, req.symbol, req.side, qty, price, commission, self._clock.now()
        )
        done = order.update.filled_qty + qty == req.qty
        self._emit(order, OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED, fill)

    # -- Broker protocol -------------------------------------------------------------------

    def _equity(self) -> float:
        return self._cash + self._worth.total

    def _exposure_cost(self, req: OrderRequest) -> float:
        """Cost of the part of an order that increases |position| (0 for reducing orders)."""
        holding = self._holdings.get(req.symbol)
        held = holding.qty if holding is not None else 0
        reducing = min(req.qty, abs(held)) if held and (held > 0) != (req.side is Side.BUY) else 0
        price = req.limit_price or self._last.get(req.symbol, 0.0)
        return (req.qty - reducing) * price

    def _buying_power(self) -> float:
        return self._equity() * self._settings.buying_power_multiple - self._committed.total

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        coid = order.client_order_id  # `_find`, inlined: once an order
        existing = self._orders.get(coid) or self._finished.get(coid)
        if existing is not None:
            return existing.update
        refusal = self._send_check(order)
        if refusal is None:
            refusal = self._write_check()
        if refusal is not None:
            raise SendRefused(refusal)
        if order.symbol not in self._last:
            raise OrderRejected(f"no market price for {order.symbol} yet")
        cost = self._exposure_cost(order)
        power = self._buying_power()
        if cost > power:
            raise OrderRejected(f"insufficient buying power: need ${cost:,.2f}, have ${power:,.2f}")
        self._serial += 1
        accepted = OrderUpdate(  # what _emit would make from a NEW one, built once
            order.client_order_id,
            order.symbol,
            OrderStatus.ACCEPTED,
            0,
            None,
            self._clock.now(),
            broker_order_id=f"sim-{self._serial}",
            side=order.side,
            qty=order.qty,
        )
        sim_order = _Order(order, accepted)
        self._orders[order.client_order_id] = sim_order
        self._working.setdefault(order.symbol, []).append(sim_order)
        self._recommit(order.symbol)
        for listener in self._listeners:
            listener(accepted)
        return accepted

    async def cancel(self, client_order_id: str) -> None:
        order = self._orders.get(client_order_id)
        if order is not None:
            self._may_write()
            self._working[order.request.symbol].remove(order)
            self._recommit(order.request.symbol)
            self._emit(order, OrderStatus.CANCELED, reason="canceled")

    async def cancel_all(self) -> None:
        self._may_write()
        working, self._working = self._working, {}
        self._committed.clear()
        for orders in working.values():
            for order in orders:
                if not order.update.status.is_final:
                    self._emit(order, OrderStatus.CANCELED, reason="canceled")

    async def close_all(self) -> CloseAllResult:
        self._may_write()
        await self.cancel_all()
        placed = []
        for symbol, holding in list(self._holdings.items()):
            if holding.qty == 0:
                continue
            self._serial += 1
            placed.append(
                await self.submit(
                    OrderRequest.flatten(
                        f"flatten-{symbol}-{self._serial}",
                        symbol,
                        holding.qty,
                        self._last[symbol],
                        self._clock.now(),
                    )
                )
            )
        return CloseAllResult(tuple(placed), ())

    async def positions(self) -> list[BrokerPosition]:
        return [
            BrokerPosition(s, h.qty, h.avg_price, self._last.get(s, h.avg_price))
            for s, h in self._holdings.items()
            if h.qty != 0
        ]

    async def account(self) -> Account:
        return Account(equity=self._equity(), cash=self._cash, buying_power=self._buying_power())

    async def clock(self) -> MarketClock:
        now = self._clock.now()
        return MarketClock(is_open=True, ts=now, next_open=now, next_close=now + DAY)

    async def open_orders(self) -> list[OrderUpdate]:
        return [o.update for o in self._orders.values()]

    async def get_order(self, client_order_id: str) -> OrderUpdate | None:
        order = self._find(client_order_id)
        return order.update if order is not None else None

    async def new_charges(self) -> list[Charge]:
        """None: the simulator's only cost is each fill's commission."""
        return []
