"""How a kill ended: its outcome and status records, its one line, and where that line goes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ops.journal.journal import Journal
from ops.shared import messages
from ops.shared.results import KillReport

log = logging.getLogger(__name__)


class OutcomeHost(Protocol):
    """Where a kill's outcome is told (ops.safety.kill_switch.KillHost)."""

    journal: Journal

    @property
    def kill_file(self) -> Path: ...

    def incident_open(self, key: str) -> bool: ...

    def alert(self, key: str, severity: str, message: str) -> None: ...

    def resolve(self, key: str, message: str) -> None: ...

    def notify(self, message: str) -> None: ...


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
    kills: int  # the requests of a person, the kill file or the control plane (not retries)
    last: KillOutcome | None
    resume_requests: int
    resume_result: str


def failed_report(user: str, exc: Exception, elapsed_sec: float) -> KillReport:
    """A kill that raised: NOT FLAT, saying what broke."""
    log.error("kill by %s failed: %r", user, exc, exc_info=exc)
    return KillReport(
        user=user,
        canceled_orders=0,
        exits=(),
        flat=False,
        elapsed_sec=elapsed_sec,
        errors=(messages.KILL_FAILED.format(error=repr(exc)),),
    )


def still_open(report: KillReport) -> tuple[tuple[str, int], ...]:
    return tuple((e.symbol, e.remaining) for e in report.exits if e.remaining)


def outcome_line(report: KillReport, elapsed: float, retry_sec: float) -> str:
    if report.flat:
        return f"FLAT after {elapsed:.1f}s"
    still = ", ".join(f"{symbol} {qty:+d}" for symbol, qty in still_open(report))
    if not report.exits:  # no position read answered: say why
        still = f"unknown ({'; '.join(report.errors) or 'no position read'})"
    retrying = f"retrying every {retry_sec:g}s"
    if report.closed_until is not None:
        retrying = f"{messages.waiting_for_open(report.closed_until)}; then {retrying}"
    return f"NOT FLAT: still open {still}; {retrying}"


def kill_head(user: str, source: str) -> str:
    return f"KILL by {user} ({source}): "


def tell_outcome(
    host: OutcomeHost,
    report: KillReport,
    source: str,
    outcome: str,
    elapsed: float,
    listeners: Iterable[Callable[[str, bool], None]],
) -> None:
    """A flat kill resolves the kill incident, one not flat raises it."""
    head = kill_head(report.user, source)
    log.warning("%s%s", head, outcome)
    for listener in listeners:  # e.g. the cluster's kill thread in Slack
        listener(f"{head}{outcome}", report.flat)
    host.journal.record(
        "runs",
        {
            "event": "kill",
            "detail": f"by {report.user} ({source}): flat={report.flat} "
            f"exits={len(report.exits)} errors={len(report.errors)} "
            f"elapsed={elapsed:.2f}s" + ("" if report.flat else f"; {outcome}"),
        },
    )
    if host.incident_open("kill-switch"):
        host.alert("kill-switch", "critical", f"kill switch file {host.kill_file}: {head}{outcome}")
    if report.flat:
        host.resolve("kill", f"{head}{outcome}")
        host.notify(f"{head}{outcome}")
    else:
        host.alert("kill", "critical", f"{head}{outcome}")
