"""One kill at a time: the console, Slack, the kill file, keep-flattening and a late fill all
start (or join) the same single flight, and every outcome is logged, journaled and posted.

Also watches the kill file (a kill when it appears; its incident resolves once it is gone and
the book is flat) and the resume request file that `tradebot resume` drops beside it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ops import messages
from ops.config import Settings
from ops.journal import Journal
from ops.kill import Flattener
from ops.results import KillReport
from strategy.book import Book
from strategy.clock import Clock
from strategy.engine import Engine
from strategy.risk import RiskGate
from strategy.types import Intent, OrderUpdate, TradingState
from strategy.venue import Broker

log = logging.getLogger(__name__)

KILL_FILE_POLL_SEC = 1.0
KEEP_FLATTENING_SEC = 5.0
FILE = "kill file"
KEEP = "keep-flattening"
LATE = "late fill"
RESUME_VIA = "tradebot resume"


def resume_file(kill_file: Path) -> Path:
    """Where `tradebot resume` asks the running service to resume: beside the kill file."""
    return kill_file.with_name(kill_file.name + ".resume")


class KillHost(Protocol):
    """What the kill switch needs from the service."""

    settings: Settings
    clock: Clock
    journal: Journal
    broker: Broker
    engine: Engine
    book: Book
    gate: RiskGate
    open_alerts: dict[str, str]

    @property
    def kill_file(self) -> Path: ...

    def set_state(self, state: TradingState, reason: str, user: str) -> None: ...

    async def state_on_disk(self) -> bool: ...

    def alert(self, key: str, severity: str, message: str) -> None: ...

    def resolve(self, key: str, message: str) -> None: ...

    def notify(self, message: str) -> None: ...

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...

    def adopt_position(self, symbol: str, qty: int, avg_price: float, user: str) -> None: ...


@dataclass(frozen=True, slots=True)
class KillOutcome:
    """The latest kill: running, or how it ended (elapsed since the request that began it)."""

    by: str
    source: str
    started: float  # wall clock
    running: bool
    flat: bool | None = None
    elapsed_sec: float | None = None
    remaining: tuple[tuple[str, int], ...] = ()
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KillSwitchStatus:
    """For the health endpoint: `tradebot kill` / `resume` wait on the request counters."""

    requests: int
    last: KillOutcome | None
    resume_requests: int
    resume_result: str


class KillSwitch:
    def __init__(self, host: KillHost, wall: Callable[[], float] = time.time) -> None:
        self._host = host
        self._wall = wall
        self.file_poll_sec = KILL_FILE_POLL_SEC
        self.retry_sec = KEEP_FLATTENING_SEC
        self._flight: asyncio.Task[KillReport] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._requests = 0
        self._last: KillOutcome | None = None
        self._since = 0.0  # monotonic time of the request that began this kill
        self._not_flat = ""  # the last NOT FLAT outcome announced (keep-flattening repeats it)
        self._closed_until: float | None = None  # the last outcome's: the closes wait for it
        self._late_pending = False
        self._resumes = 0
        self._resume_result = ""

    @property
    def running(self) -> bool:
        return self._flight is not None

    def status(self) -> KillSwitchStatus:
        return KillSwitchStatus(self._requests, self._last, self._resumes, self._resume_result)

    # -- the single flight -------------------------------------------------------------------

    async def kill(self, user: str, source: str) -> KillReport:
        """Halt at once, then cancel, flatten and verify; joins a kill already running."""
        return await asyncio.shield(self.request(user, source))

    def request(
        self, user: str, source: str, halt: bool = True, reason: str | None = None
    ) -> asyncio.Task[KillReport]:
        """Start a kill, or join the running one: both callers get the same report. `reason`
        is the HALT's (default `kill by USER`)."""
        self._requests += 1
        if self._flight is not None:
            log.warning("kill requested by %s (%s): joins the kill already running", user, source)
            return self._flight
        if halt:
            self._host.set_state(TradingState.HALTED, reason or f"kill by {user}", user)
        self._flight = self._host.spawn("kill", self._fly(user, source, fresh=halt))
        return self._flight

    async def _fly(self, user: str, source: str, fresh: bool) -> KillReport:
        if fresh or self._last is None:
            self._since = time.monotonic()
            started = self._wall()
        else:  # a retry of the same kill: its clock keeps running
            started = self._last.started
        self._last = KillOutcome(user, source, started, running=True)
        self._adopt_foreign(user)
        try:
            report = await self._flattener().run(user)
        except BaseException:
            self._last = replace(self._last, running=False, errors=("the kill failed",))
            raise
        finally:
            self._flight = None
        self._finish(report, source)
        return report

    def _adopt_foreign(self, user: str) -> None:
        """The kill closes everything at the broker, the operator's foreign holdings too: the
        book takes them in first (paying their cost, as `adopt` does), so their closing fills
        balance instead of leaving the book short what it never held."""
        book = self._host.book
        for symbol, (qty, avg) in book.foreign().items():
            self._host.adopt_position(
                symbol, book.position_qty(symbol) + qty, avg, f"kill by {user}"
            )

    def _flattener(self) -> Flattener:
        settings = self._host.settings
        return Flattener(
            self._host.engine,
            self._host.clock,
            timeout_sec=settings.number("kill.timeout_sec"),
            poll_sec=settings.number("kill.poll_sec"),
            before_closing=self._host.state_on_disk,  # a crash after a close keeps the HALT
        )

    def _finish(self, report: KillReport, source: str) -> None:
        """The outcome, whatever started the kill: log, journal, Slack, health endpoint."""
        assert self._last is not None
        elapsed = time.monotonic() - self._since
        remaining = tuple((e.symbol, e.remaining) for e in report.exits if e.remaining)
        self._last = replace(
            self._last,
            running=False,
            flat=report.flat,
            elapsed_sec=round(elapsed, 3),
            remaining=remaining,
            errors=report.errors,
        )
        head = f"KILL by {report.user} ({source}): "
        self._closed_until = report.closed_until
        if report.flat:
            outcome = f"FLAT after {elapsed:.1f}s"
            self._not_flat = ""
        else:
            still = ", ".join(f"{symbol} {qty:+d}" for symbol, qty in remaining) or "unknown"
            retrying = f"retrying every {self.retry_sec:g}s"
            if report.closed_until is not None:
                retrying = f"{messages.waiting_for_open(report.closed_until)}; then {retrying}"
            outcome = f"NOT FLAT: still open {still}; {retrying}"
            if source == KEEP and outcome == self._not_flat:
                log.info("%s%s (after %.1fs)", head, outcome, elapsed)
                return
            self._not_flat = outcome
        log.warning("%s%s", head, outcome)
        self._host.journal.record(
            "runs",
            {
                "event": "kill",
                "detail": f"by {report.user} ({source}): flat={report.flat} "
                f"exits={len(report.exits)} errors={len(report.errors)} "
                f"elapsed={elapsed:.2f}s" + ("" if report.flat else f"; {outcome}"),
            },
        )
        if "kill-switch" in self._host.open_alerts:
            self._host.alert(
                "kill-switch",
                "critical",
                f"kill switch file {self._host.kill_file}: {head}{outcome}",
            )
        if report.flat:
            self._host.resolve("kill", f"{head}{outcome}")
            self._host.notify(f"{head}{outcome}")
            return
        self._host.alert("kill", "critical", f"{head}{outcome}")
        if self._keeper is None or self._keeper.done():
            self._keeper = self._host.spawn("keep-flattening", self._keep_flattening(report.user))

    async def _keep_flattening(self, user: str) -> None:
        while True:
            await asyncio.sleep(self.retry_sec)
            if self._host.gate.state is not TradingState.HALTED:
                self._host.resolve("kill", "flattening retries stopped: trading was resumed")
                return
            if self._closed_until is not None and self._host.clock.now() < self._closed_until:
                continue  # the closes wait at the broker for the open: leave them alone
            if (await asyncio.shield(self.request(user, KEEP, halt=False))).flat:
                return

    # -- a fill after the kill ---------------------------------------------------------------

    def on_order_update(self, update: OrderUpdate) -> None:
        """A broker listener (after the engine's, so the book has applied the update): a fill
        on a non-flatten order while HALTED (an entry whose HTTP call was already in flight at
        the kill, or at a crash before a restart that restored the HALT) is flattened through
        the single flight, and reported."""
        if update.fill is None or self._late_pending:
            return
        if self._host.gate.state is not TradingState.HALTED:
            return
        order = self._host.book.order(update.client_order_id)
        if order is None or order.request.intent is Intent.FLATTEN:
            return
        self._late_pending = True
        fill = update.fill
        self._host.notify(
            f"late fill after the kill: {fill.side} {fill.qty} {update.symbol} "
            f"({update.client_order_id}); flattening"
        )
        by = self._last.by if self._last is not None else "the HALT restored at start-up"
        self._host.spawn("kill-late-fill", self._flatten_late(by))

    async def _flatten_late(self, user: str) -> None:
        """After the running flight (its last position read may predate the fill), a new one."""
        try:
            if self._flight is not None:
                await asyncio.wait([self._flight])
        finally:
            self._late_pending = False
        await asyncio.shield(self.request(user, LATE, halt=False))

    # -- the files ---------------------------------------------------------------------------

    async def watch(self) -> None:
        """Poll the kill file and the resume request file."""
        self._host.broker.subscribe(self.on_order_update)
        seen = False
        while True:
            path = self._host.kill_file
            exists = await asyncio.to_thread(path.exists)
            if exists and not seen:
                self._host.alert("kill-switch", "critical", f"kill switch file {path} found")
                self.request("kill-switch-file", FILE)
            seen = exists
            if not exists and not self.running and not self._host.book.positions():
                self._host.resolve("kill-switch", f"kill switch file {path} cleared; book flat")
            await self._take_resume_request(path)
            await asyncio.sleep(self.file_poll_sec)

    async def _take_resume_request(self, kill_file: Path) -> None:
        request = resume_file(kill_file)
        try:
            text = await asyncio.to_thread(request.read_text)
        except FileNotFoundError:
            return
        user = (text.split() or ["unknown"])[0][:64]
        result = await self.resume(user, RESUME_VIA)
        await asyncio.to_thread(request.unlink, missing_ok=True)
        self._resumes += 1
        self._resume_result = result

    async def resume(self, user: str, via: str) -> str:
        """The one resume path of a kill (`tradebot resume`, the cluster's control plane lifting
        its kill): refused while the kill file exists or a kill runs; otherwise ACTIVE through
        the state's owner. Logged and journaled; returns what happened."""
        kill_file = self._host.kill_file
        kill_file_exists = await asyncio.to_thread(kill_file.exists)
        if kill_file_exists:
            result = f"refused: the kill switch file {kill_file} exists; clear it first"
        elif self.running:
            result = "refused: a kill is running"
        elif self._host.gate.state is TradingState.ACTIVE:
            result = "trading is already ACTIVE"
        else:
            self._host.set_state(TradingState.ACTIVE, f"resumed by {user} ({via})", user)
            await self._host.state_on_disk()
            result = f"resumed by {user}: trading is ACTIVE"
        log.warning("%s request by %s: %s", via, user, result)
        self._host.journal.record("runs", {"event": "resume", "detail": f"by {user}: {result}"})
        return result

    async def settled(self) -> None:
        """Until no kill is running (one may hand over to a late-fill flight: that one too)."""
        while self._flight is not None:
            await asyncio.wait([self._flight])
