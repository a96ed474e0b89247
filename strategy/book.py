"""The in-memory order and position book: what the engine reads every bar, never the broker.

Fills are derived from cumulative filled quantities, so duplicated or replayed order updates
(stream reconnects, REST re-reads) are harmless and a missed update is caught up by the next;
an update that changes nothing is not journaled either.

Memory is bounded: a final order leaves the working set for a bounded map of recent final
orders (the kill report and a late fill still find it; the journal keeps every one), slippage
is streaming statistics, the equity curve a ring.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable

from strategy.book_records import ALLOWED, BookOrder, Position, fill_row, order_row, update_row
from strategy.clock import Clock
from strategy.equity_history import EquityHistory
from strategy.foreign_holdings import ForeignHoldings, gain_until_adoption
from strategy.orphan_updates import OrphanUpdates
from strategy.params import StrategyParams
from strategy.position_math import change_position
from strategy.recorder import Recorder
from strategy.slippage import SlippageSample, SlippageStats
from strategy.types import Intent, OrderRequest, OrderStatus, OrderUpdate

# Final orders kept in memory after they finish, oldest dropped first: more than one kill's
# flatten orders at 1,000 symbols, so its report still reads every exit's fills.
MAX_FINISHED = 10_000


class Book:
    def __init__(
        self,
        starting_cash: float,
        clock: Clock,
        recorder: Recorder,
        equity_curve_len: int = 10_000,
    ) -> None:
        self._clock = clock
        self._recorder = recorder
        self._cash = starting_cash
        self._realized = 0.0
        self._commissions = 0.0
        self._orders: dict[str, BookOrder] = {}  # working orders only
        # the last MAX_FINISHED final ones, oldest first: popitem(last=False) is O(1), where a
        # dict's next(iter(...)) walks every dead slot its emptied front leaves
        self._finished: OrderedDict[str, BookOrder] = OrderedDict()
        self._orphans = OrphanUpdates(self._anomaly)
        self._working_by_symbol: dict[str, int] = {}
        self._positions: dict[str, Position] = {}  # every symbol ever held (keeps realized)
        self._open: dict[str, Position] = {}  # the ones with qty != 0: equity sums only these
        self._last: dict[str, tuple[float, float]] = {}
        self._foreign = ForeignHoldings()  # broker holdings not (yet) ours
        self._history = EquityHistory(starting_cash, recorder, equity_curve_len)
        self._slippage = SlippageStats()
        self.fills_count = 0

    # -- orders ----------------------------------------------------------------------------

    def add_order(self, request: OrderRequest, params: StrategyParams | None) -> BookOrder:
        order = BookOrder(request, OrderStatus.NEW, 0, None, params)
        self._finished.pop(request.client_order_id, None)
        self._orders[request.client_order_id] = order
        self._working_by_symbol[request.symbol] = self._working_by_symbol.get(request.symbol, 0) + 1
        self._recorder.record("orders", order_row(request))
        return order

    def adopt_order(self, request: OrderRequest, update: OrderUpdate) -> BookOrder:
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
            self._orders[request.client_order_id] = order
            self._working_by_symbol[request.symbol] = (
                self._working_by_symbol.get(request.symbol, 0) + 1
            )
        else:
            self._retire(order)
        return order

    def order(self, client_order_id: str) -> BookOrder | None:
        """A working order, or a recently finished one (the journal has every one)."""
        return self._orders.get(client_order_id) or self._finished.get(client_order_id)

    def working_orders(self) -> list[BookOrder]:
        return list(self._orders.values())

    def _retire(self, order: BookOrder) -> None:
        coid = order.request.client_order_id
        self._orders.pop(coid, None)
        self._finished[coid] = order
        if len(self._finished) > MAX_FINISHED:
            self._finished.popitem(last=False)

    def has_working_order(self, symbol: str) -> bool:
        return self._working_by_symbol.get(symbol, 0) > 0

    def apply(self, update: OrderUpdate) -> None:
        order = self.order(update.client_order_id)
        if order is None:
            self._orphans.hold(update)
            return
        if update.broker_order_id:
            order.broker_order_id = update.broker_order_id
        delta = update.filled_qty - order.filled_qty
        if delta <= 0 and update.status is order.status:
            return  # a repeat (an ack both emitted and returned, a replay): nothing to journal
        self._recorder.record("order_updates", update_row(update))
        if delta > 0:
            self._fill(order, update, delta)
        if update.status is order.status:
            return
        if update.status not in ALLOWED.get(order.status, frozenset()):
            self._anomaly(
                "illegal_transition",
                f"{update.client_order_id}: {order.status} -> {update.status} ignored",
            )
            return
        was_working = order.working
        order.status = update.status
        if update.reason:
            order.reason = update.reason
        if was_working and not order.working:
            self._working_by_symbol[order.request.symbol] -= 1
            self._retire(order)

    def expect_broker_orders(self) -> None:
        """A close-all is on its way: see OrphanUpdates.expect."""
        self._orphans.expect()

    def broker_orders_named(self, client_order_ids: Iterable[str]) -> None:
        self._orphans.named(client_order_ids)

    def track(self, request: OrderRequest, ack: OrderUpdate) -> BookOrder:
        """Track an order placed on our behalf, applying its ack and any update that came
        before it; its fills move positions like any other order's."""
        order = self.add_order(request, None)
        self.apply(ack)
        for update in self._orphans.take(request.client_order_id):
            self.apply(update)
        return order

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
        request = order.request
        if request.intent is Intent.FOREIGN:
            self._foreign_fill(request, delta, price, commission)
            return
        self._cash -= request.side.sign * delta * price + commission
        self._commissions += commission
        self._move_position(
            request.symbol, request.side.sign * delta, price, order.params, update.ts
        )
        decision = request.decision_price
        bps = request.side.sign * (price - decision) / decision * 1e4 if decision > 0 else math.nan
        self._slippage.add(SlippageSample(request.symbol, request.side, bps, delta, update.ts))
        self.fills_count += 1
        self._recorder.record("fills", fill_row(request, update.ts, delta, price, commission, bps))

    def _foreign_fill(
        self, request: OrderRequest, delta: int, price: float, commission: float
    ) -> None:
        """The operator's order filled: their holding moves, the book's cash does not."""
        made = self._foreign.fill(request.symbol, request.side.sign * delta, price, commission)
        if made:
            self._operator_pnl_row(request.symbol, made, f"{request.client_order_id} filled")

    def _operator_pnl_row(self, symbol: str, amount: float, reason: str) -> None:
        row = {"ts": self._clock.now(), "symbol": symbol, "amount": amount, "reason": reason}
        self._recorder.record("operator_pnl", row)

    def _move_position(
        self, symbol: str, signed_qty: int, price: float, params: StrategyParams | None, ts: float
    ) -> None:
        self._change_position(symbol, signed_qty, price, params, ts)
        self._track_open(self._positions[symbol])

    def _track_open(self, pos: Position) -> None:
        if pos.qty:
            self._open[pos.symbol] = pos
        else:
            self._open.pop(pos.symbol, None)

    def _change_position(
        self, symbol: str, signed_qty: int, price: float, params: StrategyParams | None, ts: float
    ) -> None:
        pos = self._positions.get(symbol)
        held, avg = (pos.qty, pos.avg_price) if pos is not None else (0, 0.0)
        change = change_position(held, avg, signed_qty, price)
        self._realized += change.realized
        if pos is None or pos.qty == 0:
            realized = pos.realized_pnl if pos else 0.0
            self._positions[symbol] = Position(
                symbol, change.qty, change.avg_price, realized, params, ts
            )
            return
        pos.realized_pnl += change.realized
        pos.qty, pos.avg_price = change.qty, change.avg_price
        if change.opened:
            pos.entry_params, pos.opened_ts = params, ts

    def _anomaly(self, kind: str, detail: str) -> None:
        self._recorder.record(
            "anomalies", {"ts": self._clock.now(), "kind": kind, "detail": detail}
        )

    # -- positions and prices --------------------------------------------------------------

    def mark(self, symbol: str, price: float, ts: float) -> None:
        self._last[symbol] = (price, ts)

    def last_price(self, symbol: str) -> tuple[float, float] | None:
        return self._last.get(symbol)

    def position(self, symbol: str) -> Position | None:
        return self._open.get(symbol)

    def positions(self) -> list[Position]:
        return list(self._open.values())

    def position_qty(self, symbol: str) -> int:
        pos = self._positions.get(symbol)
        return pos.qty if pos is not None else 0

    def restore_position(self, symbol: str, qty: int, avg_price: float) -> None:
        """Take a position as the broker reports it, as ours: at start-up, a position the
        journal says we opened (the broker's cash already paid for it)."""
        pos = self._positions.get(symbol)
        realized = pos.realized_pnl if pos else 0.0
        params = pos.entry_params if pos else None
        self._positions[symbol] = Position(
            symbol, qty, avg_price, realized, params, self._clock.now()
        )
        self._track_open(self._positions[symbol])
        self._anomaly("position_restored", f"{symbol} set to {qty} @ {avg_price}")

    def hold_foreign(self, symbol: str, qty: int, avg_price: float, paid: bool = False) -> None:
        """A broker holding the bot did not open (the broker's qty minus the book's): counted in
        gross exposure, kept out of cash and equity, and its symbol is not traded until an
        operator adopts it. `paid`: the book's cash came from the broker after these shares
        were bought (start-up), so their cost is given back to keep them out of equity."""
        if paid:
            self._cash += qty * avg_price
        self._foreign.hold(symbol, qty, avg_price)

    def foreign(self) -> dict[str, tuple[int, float]]:
        return self._foreign.as_dict()

    def is_foreign(self, symbol: str) -> bool:
        return symbol in self._foreign

    def foreign_cost(self) -> float:
        return self._foreign.cost()

    @property
    def operator_pnl(self) -> float:
        """The operator's gain inside the account: in the broker's cash, not the book's."""
        return self._foreign.operator_pnl

    def restore_operator_pnl(self, total: float) -> None:
        """At start-up, the book's cash came from the broker's: the operator's gain journaled
        by earlier runs is taken out of it again, so book equity carries on where it was."""
        self._cash -= total - self._foreign.operator_pnl
        self._foreign.operator_pnl = total

    def adopt(self, symbol: str, broker_qty: int, broker_avg: float, price: float) -> float:
        """An operator takes the broker's position into the book. The book buys the shares it
        did not have at `price` (the market price), so equity does not move and the day's loss
        and the drawdown see only what happens from now on. Their gain or loss until now is
        the operator's (returned and journaled): the broker's cash paid their cost, the
        book's their market value."""
        pos = self._positions.get(symbol)
        held, avg = (pos.qty, pos.avg_price) if pos is not None and pos.qty else (0, 0.0)
        added = broker_qty - held
        made = gain_until_adoption(held, avg, broker_qty, broker_avg, price)
        self._cash -= added * price
        params = pos.entry_params if pos is not None else None
        self._move_position(symbol, added, price, params, self._clock.now())
        self._foreign.taken(symbol, made)
        if made:
            self._operator_pnl_row(symbol, made, f"adopted {added:+d} at {price:.2f}")
        return made

    def apply_params_to_open_positions(self, params: StrategyParams) -> int:
        open_positions = self.positions()
        for pos in open_positions:
            pos.entry_params = params
        return len(open_positions)

    def _price(self, pos: Position) -> float:
        last = self._last.get(pos.symbol)
        return last[0] if last is not None else pos.avg_price

    # -- money -----------------------------------------------------------------------------

    @property
    def cash(self) -> float:
        return self._cash

    @property
    def realized_pnl(self) -> float:
        return self._realized

    @property
    def commissions(self) -> float:
        return self._commissions

    def unrealized_pnl(self) -> float:
        return sum((self._price(p) - p.avg_price) * p.qty for p in self._open.values())

    def equity(self) -> float:
        """Read for every entry's size and every fill's loss check: a plain loop (a generator
        and a method call per position cost twice as much)."""
        equity, last = self._cash, self._last
        for symbol, p in self._open.items():
            mark = last.get(symbol)
            equity += (mark[0] if mark is not None else p.avg_price) * p.qty
        return equity

    def gross_exposure(self) -> float:
        """Ours and the foreign holdings: every share at the broker counts toward the limit."""
        gross, last = 0.0, self._last
        for symbol, p in self._open.items():
            mark = last.get(symbol)
            gross += abs(p.qty) * (mark[0] if mark is not None else p.avg_price)
        return gross + self._foreign.exposure(last)

    def charge(self, amount: float, reason: str, ref: str = "") -> None:
        """Money the venue took outside any fill (a fee; negative: a refund, a dividend): cash
        and equity move by it, and it is journaled with the venue's id for it."""
        self._cash -= amount
        self._recorder.record(
            "charges",
            {"ts": self._clock.now(), "amount": amount, "reason": reason, "ref": ref},
        )

    def day_start_equity(self) -> float:
        return self._history.day_start_equity

    def start_day(self, day: str) -> None:
        """Fixes the starting equity of trading day `day` (New York date), once a day."""
        if day != self._history.day:
            self._history.start_day(day, self.equity())

    def restore_day(self, day: str, equity: float) -> None:
        """The starting equity journaled for `day` before a restart: the loss budget carries on."""
        self._history.day, self._history.day_start_equity = day, equity

    def rebase_peak(self, peak: float) -> None:
        """The drawdown peak from the journal's equity history (never the broker's cash, which
        holds a short's proceeds)."""
        self._history.peak = max(peak, self.equity())

    @property
    def peak_equity(self) -> float:
        return self._history.peak

    def drawdown(self) -> float:
        return self._history.drawdown(self.equity())

    def snapshot_equity(self, ts: float) -> None:
        self._history.snapshot(ts, self.equity(), self._cash, self._realized, self.unrealized_pnl())

    @property
    def equity_curve(self) -> list[tuple[float, float]]:
        return self._history.curve

    @property
    def slippage(self) -> list[SlippageSample]:
        """The most recent fills' slippage (bounded; `slippage_stats` covers every fill)."""
        return self._slippage.recent

    @property
    def slippage_stats(self) -> SlippageStats:
        return self._slippage
