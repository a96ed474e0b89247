"""The book's orders: the working ones (and how many per symbol), a bounded map of recent
final ones (the kill report and a late fill still find them; the journal keeps every one), and
updates that arrive before their order (OrphanUpdates).

Fills are derived from cumulative filled quantities, so duplicated or replayed order updates
(stream reconnects, REST re-reads) are harmless and a missed update is caught up by the next;
an update that changes nothing is not journaled either. What a fill does to money and
positions is the book's (`on_fill`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

from strategy.book_records import ALLOWED, BookOrder, order_row, update_row
from strategy.orphan_updates import OrphanUpdates
from strategy.params import StrategyParams
from strategy.recorder import Recorder, keeps
from strategy.types import OrderRequest, OrderStatus, OrderUpdate

# (order, the update, shares newly filled, their price, their commission)
FillSink = Callable[[BookOrder, OrderUpdate, int, float, float], None]
AnomalySink = Callable[[str, str], None]  # (kind, detail)
NONE_ALLOWED: frozenset[OrderStatus] = frozenset()  # from a final status


class OrderLedger:
    def __init__(
        self, recorder: Recorder, on_fill: FillSink, anomaly: AnomalySink, max_finished: int
    ) -> None:
        self._recorder = recorder
        self._records_orders = keeps(recorder, "orders")
        self._records_updates = keeps(recorder, "order_updates")
        self._on_fill = on_fill
        self._anomaly = anomaly
        self._max_finished = max_finished
        self._working: dict[str, BookOrder] = {}
        # the last max_finished final ones, oldest first: popitem(last=False) is O(1), where a
        # dict's next(iter(...)) walks every dead slot its emptied front leaves
        self._finished: OrderedDict[str, BookOrder] = OrderedDict()
        self._orphans = OrphanUpdates(anomaly)
        self._working_by_symbol: dict[str, int] = {}  # only symbols with one at least
        # read several times an order and bar: the dict's own bound test, no Python call
        self.has_working: Callable[[str], bool] = self._working_by_symbol.__contains__

    def add(self, request: OrderRequest, params: StrategyParams | None) -> BookOrder:
        order = BookOrder(request, OrderStatus.NEW, 0, None, params)
        self._finished.pop(request.client_order_id, None)
        self._working[request.client_order_id] = order
        self._working_by_symbol[request.symbol] = self._working_by_symbol.get(request.symbol, 0) + 1
        if self._records_orders:
            self._recorder.record("orders", order_row(request))
        return order

    def adopt(self, request: OrderRequest, update: OrderUpdate) -> BookOrder:
        """Track an order found at the broker (start-up recovery) in its current state,
        without moving positions: those are adopted from the broker separately."""
        order = BookOrder(
            request,
            update.status,
            update.filled_qty,
            update.filled_avg_price,
            None,
            update.broker_order_id,
        )
        if order.working:
            self._working[request.client_order_id] = order
            self._working_by_symbol[request.symbol] = (
                self._working_by_symbol.get(request.symbol, 0) + 1
            )
        else:
            self._retire(order)
        return order

    def get(self, client_order_id: str) -> BookOrder | None:
        """A working order, or a recently finished one (the journal has every one)."""
        return self._working.get(client_order_id) or self._finished.get(client_order_id)

    def working(self) -> list[BookOrder]:
        return list(self._working.values())

    def _one_less_working(self, symbol: str) -> None:
        left = self._working_by_symbol[symbol] - 1
        if left:
            self._working_by_symbol[symbol] = left
        else:
            del self._working_by_symbol[symbol]

    def _retire(self, order: BookOrder) -> None:
        coid = order.request.client_order_id
        self._working.pop(coid, None)
        self._finished[coid] = order
        if len(self._finished) > self._max_finished:
            self._finished.popitem(last=False)

    def apply(self, update: OrderUpdate) -> None:
        coid = update.client_order_id  # on every update: `get` inlined
        order = self._working.get(coid) or self._finished.get(coid)
        if order is None:
            self._orphans.hold(update)
            return
        if update.broker_order_id:
            order.broker_order_id = update.broker_order_id
        delta = update.filled_qty - order.filled_qty
        if delta <= 0 and update.status is order.status:
            return  # a repeat (an ack both emitted and returned, a replay): nothing to journal
        if self._records_updates:
            self._recorder.record("order_updates", update_row(update))
        if delta > 0:
            self._fill(order, update, delta)
        if update.status is order.status:
            return
        if update.status not in ALLOWED.get(order.status, NONE_ALLOWED):
            self._anomaly(
                "illegal_transition",
                f"{update.client_order_id}: {order.status} -> {update.status} ignored",
            )
            return
        order.status = update.status  # from a working one: ALLOWED holds none from a final one
        if update.reason:
            order.reason = update.reason
        if update.status.is_final:
            self._one_less_working(order.request.symbol)
            self._retire(order)

    def _fill(self, order: BookOrder, update: OrderUpdate, delta: int) -> None:
        fill = update.fill
        if fill is not None and fill.qty == delta:
            price, commission = fill.price, fill.commission
        else:
            new_avg = update.filled_avg_price or 0.0
            old_notional = (order.avg_fill_price or 0.0) * order.filled_qty
            price = (new_avg * update.filled_qty - old_notional) / delta
            commission = fill.commission if fill is not None else 0.0
        cum = order.filled_qty + delta
        order.avg_fill_price = (
            (order.avg_fill_price or 0.0) * order.filled_qty + price * delta
        ) / cum
        order.filled_qty = cum
        self._on_fill(order, update, delta, price, commission)

    def expect_broker_orders(self) -> None:
        """A close-all is on its way: see OrphanUpdates.expect."""
        self._orphans.expect()

    def broker_orders_named(self, client_order_ids: Iterable[str]) -> None:
        self._orphans.named(client_order_ids)

    def track(self, request: OrderRequest, ack: OrderUpdate) -> BookOrder:
        """Track an order placed on our behalf, applying its ack and any update that came
        before it; its fills move positions like any other order's."""
        order = self.add(request, None)
        self.apply(ack)
        for update in self._orphans.take(request.client_order_id):
            self.apply(update)
        return order
