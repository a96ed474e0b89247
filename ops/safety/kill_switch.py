"""One kill at a time: the console, Slack, the kill file, keep-flattening and a late fill all
start (or join) the same single flight, and every outcome, a kill that raised included, is
logged, journaled and posted. Every kill a person, the kill file or the control plane asks for
sets HALTED, joined or not; resuming is refused while a kill runs and when a kill came after
what the resume was asked on. The files themselves are watched by `ops.safety.kill_file_watch`,
a fill after the kill by `ops.safety.late_fill`; `ops.safety.kill_outcome` tells how a kill ended.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, Protocol

from ops.config.settings import Settings
from ops.safety.kill import Flattener, OrderFlow
from ops.safety.kill_file_watch import KillFileWatch
from ops.safety.kill_outcome import (
    KillOutcome,
    KillSwitchStatus,
    OutcomeHost,
    failed_report,
    kill_head,
    outcome_line,
    still_open,
    tell_outcome,
)
from ops.safety.late_fill import LateFillHost, LateFills
from ops.safety.resume_request import ResumeRequest
from ops.safety.seen import Seen
from ops.shared import messages
from ops.shared.results import KillReport
from strategy.clock import Clock
from strategy.types import TradingState
from strategy.venue import Broker

log = logging.getLogger(__name__)

KILL_FILE_POLL_SEC = 1.0
KEEP_FLATTENING_SEC = 5.0
KEEP = "keep-flattening"
RESTART = "restart"


class KillHost(OutcomeHost, LateFillHost, Protocol):
    """What the kill switch needs from the service: what telling an outcome and a late fill
    need, and these."""

    settings: Settings
    clock: Clock
    broker: Broker
    engine: OrderFlow

    def set_state(self, state: TradingState, reason: str, user: str) -> None: ...

    async def state_on_disk(self) -> bool: ...

    def supervise(
        self, name: str, run: Callable[[], Coroutine[Any, Any, None]]
    ) -> asyncio.Task[Any]: ...

    def adopt_position(self, symbol: str, qty: int, avg_price: float, user: str) -> object: ...


class KillSwitch:
    def __init__(self, host: KillHost, wall: Callable[[], float] = time.time) -> None:
        self._host = host
        self._wall = wall
        self.file_poll_sec = KILL_FILE_POLL_SEC
        self.retry_sec = KEEP_FLATTENING_SEC
        self._flight: asyncio.Task[KillReport] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._requests = 0
        self._kill_times: list[float] = []  # wall clock of each kill request but retries
        self._listening = False
        self._last: KillOutcome | None = None
        self._since = 0.0  # monotonic time of the request that began this kill
        self._not_flat = ""  # the last NOT FLAT outcome announced (keep-flattening repeats it)
        self._closed_until: float | None = None  # the last outcome's: the closes wait for it
        self._late_fills = LateFills(self, host)
        self._resumes = 0
        self._resume_result = ""
        # another owner of the state may refuse a resume by its route (the cluster's control
        # plane refuses `tradebot resume` while it holds a kill): why, or None
        self.resume_veto: Callable[[str], str | None] = lambda via: None
        self.outcome_listeners: list[Callable[[str, bool], None]] = []  # (text, flat)

    @property
    def flight(self) -> asyncio.Task[KillReport] | None:
        """The kill running now, to wait on."""
        return self._flight

    @property
    def running(self) -> bool:
        return self._flight is not None

    def status(self) -> KillSwitchStatus:
        return KillSwitchStatus(
            self._requests, len(self._kill_times), self._last, self._resumes, self._resume_result
        )

    # -- the single flight -------------------------------------------------------------------

    async def kill(self, user: str, source: str) -> KillReport:
        """Halt at once, then cancel, flatten and verify; joins a kill already running."""
        return await asyncio.shield(self.request(user, source))

    def request(
        self, user: str, source: str, halt: bool = True, reason: str | None = None
    ) -> asyncio.Task[KillReport]:
        """Start a kill, or join the running one: both callers get the same report. A kill
        asked for (`halt`) sets HALTED even when it joins (trading resumed meanwhile halts
        again); `reason` is the HALT's (default `kill by USER`). Retries (keep-flattening, a
        late fill) only carry on a kill: they never halt."""
        self._requests += 1
        if halt:
            self._kill_times.append(self._wall())
            self._host.set_state(TradingState.HALTED, reason or f"kill by {user}", user)
        if self._flight is not None:
            log.warning("kill requested by %s (%s): joins the kill already running", user, source)
            return self._flight
        self._flight = self._host.spawn("kill", self._fly(user, source, fresh=halt))
        return self._flight

    async def _fly(self, user: str, source: str, fresh: bool) -> KillReport:
        if fresh or self._last is None:
            self._since = time.monotonic()
            started = self._wall()
        else:  # a retry of the same kill: its clock keeps running
            started = self._last.started
        self._last = KillOutcome(user, source, started, running=True)
        try:
            self._adopt_foreign(user)
            report = await self._flattener().run(user)
        except Exception as exc:  # whatever broke, the outcome is NOT FLAT and retried
            report = failed_report(user, exc, time.monotonic() - self._since)
        except BaseException:
            self._last = replace(self._last, running=False, errors=("the kill failed",))
            raise
        finally:
            self._flight = None
        self._finish(report, source)
        return report

    def _adopt_foreign(self, user: str) -> None:
        """The kill closes everything at the broker, the operator's foreign holdings too: the
        book takes them in first (at the market price, as `adopt` does: their gain or loss
        until now stays the operator's), so their closing fills balance instead of leaving
        the book short what it never held."""
        book = self._host.book
        for symbol, (qty, avg) in book.foreign().items():
            own = book.position(symbol)
            held, cost = (own.qty, own.qty * own.avg_price) if own is not None else (0, 0.0)
            total = held + qty  # the broker's position, at its average cost
            broker_avg = (cost + qty * avg) / total if total else avg
            self._host.adopt_position(symbol, total, broker_avg, f"kill by {user}")

    def _flattener(self) -> Flattener:
        settings = self._host.settings
        return Flattener(
            self._host.engine,
            self._host.broker,
            self._host.book,
            self._host.clock,
            timeout_sec=settings.number("kill.timeout_sec"),
            poll_sec=settings.number("kill.poll_sec"),
            before_closing=self._host.state_on_disk,  # a crash after a close keeps the HALT
        )

    def _finish(self, report: KillReport, source: str) -> None:
        """The outcome, whatever started the kill: told (a NOT FLAT that keep-flattening only
        repeats, logged), and retried while not flat."""
        assert self._last is not None
        elapsed = time.monotonic() - self._since
        self._last = replace(
            self._last,
            running=False,
            flat=report.flat,
            elapsed_sec=round(elapsed, 3),
            remaining=still_open(report),
            errors=report.errors,
        )
        self._closed_until = report.closed_until
        outcome = outcome_line(report, elapsed, self.retry_sec)
        if report.flat:
            self._not_flat = ""
        elif source == KEEP and outcome == self._not_flat:
            log.info("%s%s (after %.1fs)", kill_head(report.user, source), outcome, elapsed)
            return
        else:
            self._not_flat = outcome
        tell_outcome(self._host, report, source, outcome, elapsed, self.outcome_listeners)
        if report.flat:
            return
        if self._keeper is None or self._keeper.done():
            user = report.user
            self._keeper = self._host.supervise(KEEP, lambda: self._keep_flattening(user))

    def carry_on(self, by: str) -> None:
        """At start-up: a HALT restored while the book still holds positions is a kill that did
        not finish (NOT FLAT, or stopped mid-flight). It goes on flattening, reported and
        retried like any kill, instead of holding them HALTED with nothing closing them."""
        held = self._host.book.positions()
        if self._host.gate.state is not TradingState.HALTED or not held:
            return
        by = by or "the HALT restored at start-up"
        self._host.notify(messages.KILL_CARRIES_ON.format(by=by, count=len(held)))
        self.request(by, RESTART, halt=False)

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

    # -- resuming ----------------------------------------------------------------------------

    async def watch(self) -> None:
        """Watch the kill file and the resume request file (see `ops.safety.kill_file_watch`)."""
        if not self._listening:  # once, however often the watch is restarted
            self._host.broker.subscribe(self._late_fills.on_order_update)
            self._listening = True
        await KillFileWatch(self, self._host).run()

    def seen(self) -> Seen:
        """What a resume asked now is asked on: the kills so far and the trading state."""
        return Seen(len(self._kill_times), self._host.gate.state)

    async def resume_refusal(self, seen: Seen | None) -> str | None:
        """Why trading may not resume now (None: it may): the kill file exists, a kill is
        running, or what the resume was asked on (`seen`) no longer holds."""
        kill_file = self._host.kill_file
        if await asyncio.to_thread(kill_file.exists):
            return messages.RESUME_BLOCKED_KILL_FILE.format(path=kill_file)
        if self.running:
            return messages.RESUME_BLOCKED_KILL_RUNNING
        if seen is None:
            return None
        gate = self._host.gate
        change = seen.changed(len(self._kill_times), gate.state, gate.state_reason)
        return None if change is None else messages.STATE_CHANGED_SINCE.format(change=change)

    async def resume(self, user: str, via: str, seen: Seen | None = None) -> str:
        """The one resume path of a kill (`tradebot resume`, the cluster's control plane lifting
        its kill): refused as `resume_refusal` says; otherwise ACTIVE through the state's owner.
        Logged and journaled; returns what happened."""
        refusal = self.resume_veto(via) or await self.resume_refusal(seen)
        resumed = refusal is None and self._host.gate.state is not TradingState.ACTIVE
        if refusal is not None:
            result = f"refused: {refusal}"
        elif not resumed:
            result = "trading is already ACTIVE"
        else:
            self._host.set_state(TradingState.ACTIVE, f"resumed by {user} ({via})", user)
            result = f"resumed by {user}: trading is ACTIVE"
        self._record_resume(user, via, result)  # before any wait: a stop meanwhile keeps it
        if resumed:
            await self._host.state_on_disk()
        return result

    async def take_resume(self, request: ResumeRequest, written_at: float, via: str) -> None:
        """A resume request file: bound to what its writer saw or, when it saw nothing, to
        when it was written (a kill requested after that is one it never saw)."""
        seen = request.seen or Seen(sum(at <= written_at for at in self._kill_times))
        result = await self.resume(request.user, via, seen)
        self._resumes += 1
        self._resume_result = result

    def resume_answered(self, user: str, via: str, result: str) -> None:
        """A resume request refused before it could be read (`tradebot resume` waits on it)."""
        self._record_resume(user, via, result)
        self._resumes += 1
        self._resume_result = result

    def _record_resume(self, user: str, via: str, result: str) -> None:
        log.warning("%s request by %s: %s", via, user, result)
        self._host.journal.record("runs", {"event": "resume", "detail": f"by {user}: {result}"})

    async def settled(self) -> None:
        """Until no kill is running (one may hand over to a late-fill flight: that one too)."""
        while self._flight is not None:
            await asyncio.wait([self._flight])
