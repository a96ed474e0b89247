"""The in-memory book: orders (order_ledger.py), positions and last prices (positions.py),
cash, commissions, the operator's holdings, the equity history and slippage; what the engine
reads every bar, never the broker.

Memory is bounded: a final order leaves the working set for a bounded map of recent final
orders, slippage is streaming statistics, the equity curve a ring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from strategy.book_records import BookOrder, Position, fill_row
from strategy.clock import Clock
from strategy.equity_history import EquityHistory
from strategy.foreign_holdings import ForeignHoldings, gain_until_adoption
from strategy.order_ledger import OrderLedger
from strategy.params import StrategyParams
from strategy.positions import Positions
from strategy.recorder import Recorder
from strategy.slippage import SlippageSample, SlippageStats
from strategy.types import Intent, OrderRequest, OrderUpdate

# Final orders kept in memory after they finish, oldest dropped first: more than one kill's
# flatten orders at 1,000 symbols, so its report still reads every exit's fills.
MAX_FINISHED = 10_000


class Book:
    # Read on every bar: bound in __init__ straight to their owners, so the engine's per-bar
    # path pays no extra call through the book.
    mark: Callable[[str, float, float], None]  # (symbol, price, ts)
    position: Callable[[str], Position | None]  # the symbol's open position
    has_working_order: Callable[[str], bool]
    is_foreign: Callable[[str], bool]  # the operator's until adopted
    # and on every order and order update
    add_order: Callable[[OrderRequest, StrategyParams | None], BookOrder]
    apply: Callable[[OrderUpdate], None]

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
        self._commissions = 0.0
        self._orders = OrderLedger(recorder, self._fill, self._anomaly, MAX_FINISHED)
        self._positions = Positions()
        self._foreign = ForeignHoldings()  # broker holdings not (yet) ours
        self._history = EquityHistory(starting_cash, recorder, equity_curve_len)
        self._slippage = SlippageStats()
        self.fills_count = 0
        self.mark = self._positions.mark
        self.position = self._positions.open
        self.has_working_order = self._orders.has_working
        self.is_foreign = self._foreign.holds
        self.add_order = self._orders.add
        self.apply = self._orders.apply

    # -- orders ----------------------------------------------------------------------------

    def adopt_order(self, request: OrderRequest, update: OrderUpdate) -> BookOrder:
        """Track an order found at the broker (start-up recovery) in its current state,
        without moving positions: those are adopted from the broker separately."""
        return self._orders.adopt(request, update)

    def order(self, client_order_id: str) -> BookOrder | None:
        """A working order, or a recently finished one (the journal has every one)."""
        return self._orders.get(client_order_id)

    def working_orders(self) -> list[BookOrder]:
        return self._orders.working()

    def expect_broker_orders(self) -> None:
        """A close-all is on its way: see OrphanUpdates.expect."""
        self._orders.expect_broker_orders()

    def broker_orders_named(self, client_order_ids: Iterable[str]) -> None:
        self._orders.broker_orders_named(client_order_ids)

    def track(self, request: OrderRequest, ack: OrderUpdate) -> BookOrder:
        """Track an order placed on our behalf, applying its ack and any update that came
        before it; its fills move positions like any other order's."""
        return self._orders.track(request, ack)

    def _fill(
        self, order: BookOrder, update: OrderUpdate, delta: int, price: float, commission: float
    ) -> None:
        """`delta` more shares of `order` filled at `price`: cash, position, slippage."""
        request = order.request
        if request.intent is Intent.FOREIGN:
            self._foreign_fill(request, delta, price, commission)
            return
        self._cash -= request.side.sign * delta * price + commission
        self._commissions += commission
        self._positions.move(
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

    def _anomaly(self, kind: str, detail: str) -> None:
        self._recorder.record(
            "anomalies", {"ts": self._clock.now(), "kind": kind, "detail": detail}
        )

    # -- positions and prices --------------------------------------------------------------

    def last_price(self, symbol: str) -> tuple[float, float] | None:
        return self._positions.last.get(symbol)

    def positions(self) -> list[Position]:
        return self._positions.open_ones()

    def position_qty(self, symbol: str) -> int:
        pos = self._positions.held(symbol)
        return pos.qty if pos is not None else 0

    def restore_position(self, symbol: str, qty: int, avg_price: float) -> None:
        """Take a position as the broker reports it, as ours: at start-up, a position the
        journal says we opened (the broker's cash already paid for it)."""
        self._positions.restore(symbol, qty, avg_price, self._clock.now())
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
        pos = self._positions.held(symbol)
        held, avg = (pos.qty, pos.avg_price) if pos is not None and pos.qty else (0, 0.0)
        added = broker_qty - held
        made = gain_until_adoption(held, avg, broker_qty, broker_avg, price)
        self._cash -= added * price
        params = pos.entry_params if pos is not None else None
        self._positions.move(symbol, added, price, params, self._clock.now())
        self._foreign.taken(symbol, made)
        if made:
            self._operator_pnl_row(symbol, made, f"adopted {added:+d} at {price:.2f}")
        return made

    def apply_params_to_open_positions(self, params: StrategyParams) -> int:
        return self._positions.apply_params(params)

    # -- money -----------------------------------------------------------------------------

    @property
    def cash(self) -> float:
        return self._cash

    @property
    def realized_pnl(self) -> float:
        return self._positions.realized

    @property
    def commissions(self) -> float:
        return self._commissions

    def unrealized_pnl(self) -> float:
        return self._positions.unrealized()

    def equity(self) -> float:
        return self._positions.equity(self._cash)

    def gross_exposure(self) -> float:
        """Ours and the foreign holdings: every share at the broker counts toward the limit."""
        return self._positions.gross() + self._foreign.exposure(self._positions.last)

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
        realized = self._positions.realized
        self._history.snapshot(ts, self.equity(), self._cash, realized, self.unrealized_pnl())

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
