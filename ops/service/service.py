"""The running service: engine task, kill switch watcher, trading state, shutdown; its
incidents are `ops.service.incidents`.

Venue-agnostic: the composition root hands in a broker and a feed (simulated or Alpaca).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from ops.config.settings import Settings
from ops.journal import owner as journal_owner
from ops.journal.journal import Journal
from ops.safety.kill_switch import KillSwitch
from ops.safety.trading_state import TradingStateOwner
from ops.service.adoption import Adopted, adoption_price
from ops.service.broker_facing import BrokerFacing
from ops.service.incidents import Incidents
from ops.service.supervise import RESTART_SEC, supervised
from ops.shared.formatting import signed_money
from ops.shared.results import CheckResult, KillReport, RunSummary
from strategy.book import Book
from strategy.clock import Clock
from strategy.engine import Engine
from strategy.engine_outputs import EngineEvents
from strategy.latency import LatencyTracker
from strategy.risk import RiskGate
from strategy.types import OrderRequest, OrderUpdate, TradingState
from strategy.unknown_orders import UnknownOrderPolicy
from strategy.venue import Broker, Feed

log = logging.getLogger(__name__)


DRAIN_MARGIN_SEC = 1.0  # beyond one broker request, before a kill cancels everything
EXIT_REFUSED = "exit-refused:"  # + symbol: the incident of an exit the broker refused
ORDER_UNKNOWN = "order-unknown:"  # + symbol: an order whose outcome is still being looked up


class TradingService:
    def __init__(
        self,
        *,
        settings: Settings,
        journal: Journal,
        broker: Broker,
        feed: Feed,
        clock: Clock,
        starting_cash: float,
        decides: bool = True,
    ) -> None:
        """`decides`: False for an order manager's service (its engine only prices the book:
        the workers decide)."""
        self.settings = settings
        self.journal = journal
        self.broker = broker
        self.feed = feed
        self.clock = clock
        self.latency = LatencyTracker(recorder=journal, clock=clock)
        self.book = Book(starting_cash=starting_cash, clock=clock, recorder=journal)
        self.gate = RiskGate(settings.risk_limits(), settings.symbols, clock)
        self._engine_events = EngineEvents()
        self.engine = Engine(
            symbols=settings.symbols,
            params=settings.strategy_params(),
            gate=self.gate,
            book=self.book,
            broker=broker,
            clock=clock,
            recorder=journal,
            latency=self.latency,
            vol_window=settings.integer("strategy.vol_window"),
            bar_sec=settings.integer("sim.bar_sec"),
            equity_every_sec=settings.number("journal.equity_every_sec"),
            unknown_orders=UnknownOrderPolicy(
                first_retry_sec=settings.number("broker.lookup_retry_sec"),
                alert_after_sec=settings.number("monitoring.unknown_order_alert_sec"),
            ),
            drain_timeout_sec=settings.number("broker.timeout_sec") + DRAIN_MARGIN_SEC,
            events=self._engine_events,
            mark_only=not decides,
        )
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self.restart_sec = RESTART_SEC  # before a supervised task starts again
        self.incidents = Incidents(journal, lambda: self.settings)
        self.open_alerts = self.incidents.open  # key -> latest message (the owner's dict)
        self.alert = self.incidents.alert
        self.resolve = self.incidents.resolve
        self.acknowledge = self.incidents.acknowledge
        self.notify = self.incidents.notify
        self.report_error = self.incidents.report_error
        self.add_alert_sink = self.incidents.add_sink
        self.open_incidents = self.incidents.all
        self.trading = TradingStateOwner(self.gate, journal, self.alert, self.resolve)
        events = self._engine_events
        events.risk_breach = self.trading.risk_breach
        events.order_unknown = self._order_unknown
        events.order_known = self._order_known
        events.exit_refused = self._exit_refused
        events.flat = self._flat
        self.checks: dict[str, CheckResult] = {}  # the monitor's latest result per check key
        self.kill_switch = KillSwitch(self)
        self._started_engine = False
        self.started_at = time.monotonic()
        self.feed_done = asyncio.Event()  # set when the feed ran out (a replay's file is done)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self.trading.restore()
        await self.incidents.restore()
        self._close_stale_incidents()
        self.journal.describe_run(self.venue_label, self.settings.values)
        self.journal.record(
            "runs",
            {
                "event": "start",
                "detail": f"{self.settings.get('strategy.name')} on {self.venue_label}",
            },
        )
        self._started_engine = True
        self._engine_events.error = self.report_error
        self.spawn("engine", self._run_engine())
        self.supervise("kill-switch", self.kill_switch.watch)
        self.kill_switch.carry_on(self.trading.changed_by)

    def _close_stale_incidents(self) -> None:
        """Incidents restored from the last run that no longer hold: an exit refused for a
        symbol flat by now (closed while we were down), an order-unknown (its lookup ended
        with that run; start-up recovery reads every unfinished order from the broker), a kill
        that was not flat when the book is flat now, and those this run checks afresh."""
        for key in list(self.open_alerts):
            if key.startswith(EXIT_REFUSED):
                symbol = key.removeprefix(EXIT_REFUSED)
                if self.book.position(symbol) is None:
                    self._flat(symbol)
            elif key.startswith(ORDER_UNKNOWN):
                self.resolve(key, "closed at start-up: no order's outcome is unknown in this run")
            elif key == "kill" and not self.book.positions():
                self.resolve(key, "closed at start-up: the book is flat")
        self.incidents.close_rechecked()

    @property
    def venue_label(self) -> str:
        """ "sim", "alpaca paper" or "alpaca LIVE": what the checklist counts as paper time."""
        if self.broker.name != "alpaca":
            return self.broker.name
        return "alpaca paper" if self.settings.get("broker.paper") else "alpaca LIVE"

    @property
    def engine_running(self) -> bool:
        """The engine task is alive (or, before start, has not been started yet)."""
        return "engine" in self._tasks or not self._started_engine

    @property
    def feed_ended(self) -> bool:
        return self.feed_done.is_set()

    async def _run_engine(self) -> None:
        await self.engine.run(self.feed)
        self.feed_done.set()
        log.info("market data feed ended after %d bars", self.engine.progress().counters.bars)

    def broker_facing(self) -> BrokerFacing:
        """The parts start-up recovery and reconcile read and restore, and nothing else."""
        return BrokerFacing(
            self.broker,
            self.journal,
            self.book,
            self.clock,
            self.engine.symbols,
            lambda: self.settings,
            self.alert,
            self.resolve,
            self.open_alerts,
        )

    def announce_updates(self, to: Callable[[OrderUpdate], None]) -> None:
        """Every order update once the book has it goes to `to` (the order manager's)."""
        self._engine_events.update = to

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start a named background task whose failure is logged, journaled and alerted."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks[name] = task
        task.add_done_callback(self._task_done)
        return task

    def running(self, name: str) -> asyncio.Task[Any] | None:
        """The named background task, while it runs."""
        return self._tasks.get(name)

    def supervise(
        self, name: str, run: Callable[[], Coroutine[Any, Any, None]]
    ) -> asyncio.Task[Any]:
        """A named background task started again after each failure (reported as `spawn`
        reports one), until it returns or is cancelled."""
        return self.spawn(name, supervised(name, run, self.report_error, lambda: self.restart_sec))

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(task.get_name()) is task:
            del self._tasks[task.get_name()]
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        assert exc is not None
        self.report_error(f"task-{task.get_name()}", exc)

    async def stop(self) -> RunSummary:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        await self.engine.drain()
        await self.trading.on_disk()  # and its incident told, before the journal closes
        self.book.snapshot_equity(self.clock.now())
        self.journal.record("runs", {"event": "stop", "detail": ""})
        await asyncio.to_thread(self.journal.close)
        return self.summary()  # after the final flush: every row written is counted

    def summary(self) -> RunSummary:
        counters = self.engine.progress().counters
        return RunSummary(
            duration_sec=time.monotonic() - self.started_at,
            bars=counters.bars,
            signals=counters.signals,
            orders=counters.orders,
            fills=counters.fills,
            refusals=counters.refusals + counters.broker_rejects,
            realized=self.book.realized_pnl,
            unrealized=self.book.unrealized_pnl(),
            commissions=self.book.commissions,
            equity=self.book.equity(),
            state=self.gate.state,
            latency=tuple(self.latency.summary()),
            journal_rows=self.journal.rows_written,
        )

    # -- state, settings, alerts -----------------------------------------------------------

    def set_state(self, state: TradingState, reason: str, user: str) -> None:
        """Through the state's one owner (journaled, alerted, restored after a restart)."""
        self.trading.change(state, reason, user)

    async def state_on_disk(self) -> bool:
        """Until the latest state change is on disk: await it before telling anyone."""
        return await self.trading.on_disk()

    def incident_open(self, key: str) -> bool:
        return key in self.incidents.open

    def _order_unknown(self, order: OrderRequest, message: str) -> None:
        self.alert(
            f"{ORDER_UNKNOWN}{order.symbol}", "critical", f"{order.client_order_id}: {message}"
        )

    def _order_known(self, order: OrderRequest, message: str) -> None:
        self.resolve(f"{ORDER_UNKNOWN}{order.symbol}", f"{order.client_order_id}: {message}")

    def _exit_refused(self, order: OrderRequest, reason: str) -> None:
        self.alert(
            f"{EXIT_REFUSED}{order.symbol}",
            "critical",
            f"{order.client_order_id}: the exit of {order.qty} {order.symbol} was refused "
            f"({reason}); the position stays open and the strategy tries again at its next "
            "exit signal (`/trade kill` closes every position)",
        )

    def _flat(self, symbol: str) -> None:
        self.resolve(f"{EXIT_REFUSED}{symbol}", f"{symbol} is flat")

    def apply_settings(self, settings: Settings, apply_to_open: bool) -> None:
        self.settings = settings
        self.engine.set_params(settings.strategy_params(), apply_to_open)
        self.gate.set_limits(settings.risk_limits())

    def adopt_position(
        self, symbol: str, qty: int, avg_price: float, user: str, broker_price: float | None = None
    ) -> Adopted:
        """An operator took the broker's view of one symbol into the book, buying the shares
        the book did not have at the market price (ops.service.adoption): its equity does not
        move."""
        now = self.clock.now()
        fresh_sec = self.settings.number("risk.stale_bar_sec")
        price = adoption_price(self.book, symbol, now, fresh_sec, avg_price, broker_price)
        if price.from_broker:
            self.book.mark(symbol, price.price, now)
        added = qty - self.book.position_qty(symbol)
        made = self.book.adopt(symbol, qty, avg_price, price.price)
        self.journal.record(
            "adoptions", {"symbol": symbol, "qty": added, "avg_price": price.price, "user": user}
        )
        detail = (
            f"{symbol} {qty:+d} (broker average {avg_price:.2f}) at {price.price:.2f}, "
            f"{price.source}, by {user}; the operator's P&L on them until now {signed_money(made)}"
        )
        self.journal.record("runs", {"event": "adopt", "detail": detail})
        self.resolve(
            f"reconcile:{symbol}", f"{symbol}: book now matches the broker (adopted by {user})"
        )
        if self.book.position(symbol) is None:
            self._flat(symbol)
        return Adopted(price, added, made)

    # -- kill ------------------------------------------------------------------------------

    @property
    def kill_file(self) -> Path:
        return journal_owner.kill_file(self.settings, self.journal.path)

    async def kill(self, user: str) -> KillReport:
        """Halt at once, then cancel, flatten and verify; joins a kill already running."""
        return await self.kill_switch.kill(user, "kill command")
