"""The simulated broker: its order book (working orders by symbol, the last finished ones,
every update told to its listeners) behind the same Broker protocol as the Alpaca venue, so the
engine cannot tell them apart. Orders execute on the next bar of their symbol (a latency of one
bar) by its fill rules (sim_fills.py: market orders at that open with slippage, limit orders only
if the open is marketable, IOC and partial fills), against its account (sim_account.py).
"""

from __future__ import annotations

from collections import OrderedDict

from strategy.clock import Clock
from strategy.types import (
    Account,
    Bar,
    BrokerPosition,
    Charge,
    CloseAllResult,
    Fill,
    MarketClock,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
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
from strategy.venues.sim_account import SimAccount, SimOrder
from strategy.venues.sim_fills import SimFills
from strategy.venues.sim_settings import SimSettings

__all__ = ["SimBroker", "SimSettings"]  # SimSettings: where its users have always imported it

DAY = 86_400.0
# Final orders kept after they finish (get_order, an idempotent re-submit), oldest dropped first.
MAX_FINISHED = 10_000


class SimBroker:
    name = "sim"

    def __init__(self, settings: SimSettings, clock: Clock) -> None:
        self._clock = clock
        account = self._account = SimAccount(settings, clock)
        # the account's own, bound once: the per-bar path reads and writes them inline
        self._last, self._holdings, self._worth = account.last, account.holdings, account.worth
        self._fills = SimFills(settings, account, self._emit)
        self._execute = self._fills.execute  # bound once: called for each working order a bar
        self._orders: dict[str, SimOrder] = {}  # working orders only
        # the last MAX_FINISHED final ones, oldest first: popitem(last=False) is O(1), where a
        # dict's next(iter(...)) walks every dead slot its emptied front leaves
        self._finished: OrderedDict[str, SimOrder] = OrderedDict()
        self._working: dict[str, list[SimOrder]] = {}
        self._listeners: list[OrderListener] = []
        self._send_check: SendCheck = allow_every_order
        self._write_check: WriteCheck = allow_writes
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
        self._fills.refuse_next_close(symbol, times)

    def _emit(
        self, order: SimOrder, status: OrderStatus, fill: Fill | None = None, reason: str = ""
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

    def _retire(self, order: SimOrder) -> None:
        coid = order.request.client_order_id
        self._orders.pop(coid, None)
        self._finished[coid] = order
        if len(self._finished) > MAX_FINISHED:
            self._finished.popitem(last=False)

    def _find(self, client_order_id: str) -> SimOrder | None:
        return self._orders.get(client_order_id) or self._finished.get(client_order_id)

    # -- market ----------------------------------------------------------------------------

    def mark(self, symbol: str, price: float) -> None:
        """The latest price of a symbol with no working order (what `on_bar` would do)."""
        self._last[symbol] = price
        if symbol in self._holdings or symbol in self._working:
            self._account.revalue(symbol, self._working.get(symbol))

    def on_bar(self, bar: Bar) -> None:
        self.on_prices(bar.symbol, bar.open, bar.close)

    def on_prices(self, symbol: str, open_: float, close: float) -> None:
        """`on_bar` from the two prices it reads (a backtest's replay builds no Bar for a bar
        its engine does not see)."""
        self._last[symbol] = close
        working = self._working.get(symbol)
        if not working:  # nothing fills: only a holding's worth moves (`revalue`, inlined)
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
        self._account.revalue(symbol, self._working[symbol])

    # -- Broker protocol -------------------------------------------------------------------

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
        cost = self._account.exposure_cost(order)
        power = self._account.buying_power()
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
        sim_order = SimOrder(order, accepted)
        self._orders[order.client_order_id] = sim_order
        working = self._working.setdefault(order.symbol, [])
        working.append(sim_order)
        self._account.recommit(order.symbol, working)
        for listener in self._listeners:
            listener(accepted)
        return accepted

    async def cancel(self, client_order_id: str) -> None:
        order = self._orders.get(client_order_id)
        if order is not None:
            self._may_write()
            working = self._working[order.request.symbol]
            working.remove(order)
            self._account.recommit(order.request.symbol, working)
            self._emit(order, OrderStatus.CANCELED, reason="canceled")

    async def cancel_all(self) -> None:
        self._may_write()
        working, self._working = self._working, {}
        self._account.committed.clear()
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
        money = self._account
        return Account(equity=money.equity(), cash=money.cash, buying_power=money.buying_power())

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
