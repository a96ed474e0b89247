"""The service's incidents, owned here: one place opens, updates, resolves and acknowledges
them, journals and logs each change and hands it to the sinks (a Slack alerts channel, the
cluster's incident stream) by the incident's route. The incidents open at the last stop are
open again after a restart; each start closes those it checks afresh.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Protocol

from ops.config.settings import Settings
from ops.journal.journal import Journal

log = logging.getLogger(__name__)

# Incidents about the last run's own connections and surroundings, which each start checks
# afresh (raising them again if they still hold): one restored from the last run is closed.
RECHECKED_EACH_RUN = {
    "slack": "this run connects to Slack afresh",
    "slack-lost": "this run connects to Slack afresh",
    "journal": "this run opened the journal and writes to it",
    "clock-skew": "the market-clock job checks the clock again in this run",
    "broker-auth": "this run presents the credentials to Alpaca afresh",
    "feed-auth": "this run presents the credentials to Alpaca afresh",
    "feed-gap": "a gap of the last run's market data; this run backfills its own",
    "startup": "start-up recovery ran again in this run",
}


class AlertSink(Protocol):
    """Somewhere incidents go (a Slack alerts channel); the journal and log always get them."""

    def raise_alert(self, key: str, severity: str, message: str) -> None: ...

    def resolve_alert(self, key: str, message: str) -> None: ...

    def notice(self, message: str) -> None:
        """A one-off announcement (start-up recovery, live trading), not an incident."""
        ...

    def acknowledge(self, key: str, user: str) -> None: ...


class IncidentReporter(Protocol):
    """What a part that raises and resolves its own incidents needs (Incidents)."""

    def alert(self, key: str, severity: str, message: str) -> None: ...

    def resolve(self, key: str, message: str) -> None: ...

    def report_error(self, where: str, exc: BaseException) -> None: ...


class Incidents:
    def __init__(self, journal: Journal, settings: Callable[[], Settings]) -> None:
        self._journal = journal
        self._settings = settings  # the routes are read from the settings in force
        self._sinks: list[AlertSink] = []
        self.open: dict[str, str] = {}  # key -> latest message
        self._severities: dict[str, str] = {}
        self._restored: set[str] = set()  # keys restored at start-up from the last run
        self._error_counts: dict[str, int] = {}
        self._notices: list[str] = []

    def add_sink(self, sink: AlertSink) -> None:
        """A sink attached after start-up still gets this run's notices and open incidents."""
        self._sinks.append(sink)
        for message in self._notices:
            sink.notice(message)
        for key, (severity, message) in self.all().items():
            if self._route(key) != "off":
                sink.raise_alert(key, self._posted_severity(key, severity), message)

    def all(self) -> dict[str, tuple[str, str]]:
        """key -> (severity, latest message) of every open incident."""
        return {key: (self._severities[key], msg) for key, msg in self.open.items()}

    def notify(self, message: str) -> None:
        self._notices.append(message)
        self._journal.record("runs", {"event": "notice", "detail": message})
        log.warning("NOTICE %s", message)
        for sink in self._sinks:
            sink.notice(message)

    def alert(self, key: str, severity: str, message: str) -> None:
        """Open (or update) an incident. Repeating the same message is a no-op."""
        if self.open.get(key) == message:
            return
        self.open[key] = message
        self._severities[key] = severity
        self._journal.record(
            "alerts", {"key": key, "severity": severity, "message": message, "status": "open"}
        )
        log.warning("ALERT [%s] %s: %s", severity, key, message)
        for sink in self._sinks_for(key):
            sink.raise_alert(key, self._posted_severity(key, severity), message)

    def resolve(self, key: str, message: str) -> None:
        """Close an open incident; a no-op when `key` is not open."""
        if self.open.pop(key, None) is None:
            return
        self._journal.record(
            "alerts", {"key": key, "severity": "info", "message": message, "status": "resolved"}
        )
        log.info("RESOLVED %s: %s", key, message)
        for sink in self._sinks_for(key):
            sink.resolve_alert(key, message)

    def acknowledge(self, key: str, user: str) -> bool:
        """Record who took an open incident; False when `key` is not open."""
        if key not in self.open:
            return False
        self._journal.record(
            "alerts",
            {
                "key": key,
                "severity": "info",
                "message": f"acknowledged by {user}",
                "status": "acknowledged",
            },
        )
        log.info("ACKNOWLEDGED %s by %s", key, user)
        for sink in self._sinks_for(key):
            sink.acknowledge(key, user)
        return True

    def report_error(self, where: str, exc: BaseException) -> None:
        """The boundary of every handler, job and task: journal the traceback, alert once per
        distinct error and keep a count (repeats go to the incident's thread, flood controlled).
        `where` has no spaces (e.g. `job-health`): it is part of the incident key for `ack`."""
        key = f"error:{where}:{type(exc).__name__}"
        count = self._error_counts[key] = self._error_counts.get(key, 0) + 1
        trace = "".join(traceback.format_exception(exc))
        self._journal.record(
            "errors", {"origin": where, "error": repr(exc), "count": count, "traceback": trace}
        )
        log.error(
            "%s failed (%d so far): %r", where, count, exc, exc_info=exc if count == 1 else None
        )
        times = "" if count == 1 else f" ({count} times so far)"
        self.alert(key, "critical", f"{where} failed: {exc!r}{times}")

    async def restore(self) -> None:
        """Incidents open at the last stop are open again (sinks attached later get them);
        one this run raised before it started stays this run's."""
        rows = await self._journal.aquery(
            "select key, severity, message, status from alerts order by id"
        )
        restored: dict[str, tuple[str, str]] = {}
        for row in rows:
            key, status = str(row["key"]), row["status"]
            if status == "open":
                restored[key] = (str(row["severity"]), str(row["message"]))
            elif status == "resolved":
                restored.pop(key, None)
        for key in self.open:
            restored.pop(key, None)
        for key, (severity, message) in restored.items():
            self.open[key] = message
            self._severities[key] = severity
        self._restored = set(restored)
        if restored:
            log.warning(
                "%d incident(s) still open from the last run: %s",
                len(restored),
                ", ".join(restored),
            )

    def close_rechecked(self) -> None:
        """Close the restored incidents this run checks afresh (RECHECKED_EACH_RUN)."""
        for key in list(self.open):
            if key in RECHECKED_EACH_RUN and key in self._restored:
                self.resolve(key, f"closed at start-up: {RECHECKED_EACH_RUN[key]}")

    def _route(self, key: str) -> str:
        """ "on", "silent" (posted without notifying anyone) or "off" (journal and log only),
        by the incident's kind: its key up to the first colon."""
        kind = key.split(":", 1)[0]
        settings = self._settings()
        if kind in settings.strings("monitoring.route_off"):
            return "off"
        if kind in settings.strings("monitoring.route_silent"):
            return "silent"
        return "on"

    def _posted_severity(self, key: str, severity: str) -> str:
        return "info" if self._route(key) == "silent" else severity

    def _sinks_for(self, key: str) -> list[AlertSink]:
        return [] if self._route(key) == "off" else self._sinks
