"""The journal's health into the service. An unhealthy journal (writes failing, its writer
restarted, its queue full) is a `journal` incident and stops new entries through the trading
state's owner (REDUCING: exits still run; an operator resumes with `/trade resume`). Healthy
again resolves the incident; trading stays REDUCING until someone resumes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ops.journal.journal import Journal
from ops.watch.parts import IncidentDesk, StateWatch

log = logging.getLogger(__name__)
INCIDENT = "journal"


def watch_journal(journal: Journal, incidents: IncidentDesk, trading: StateWatch) -> None:
    """Wire the journal's callbacks (called from its writer thread) onto the event loop.
    Call it from the event loop, at the composition root."""
    loop = asyncio.get_running_loop()

    def unhealthy(message: str) -> None:
        incidents.alert(INCIDENT, "critical", message)
        trading.risk_breach(f"journal unhealthy: {message}")

    def healthy(message: str) -> None:
        incidents.resolve(INCIDENT, message)

    journal.on_unhealthy = lambda message: _on_loop(loop, unhealthy, message)
    journal.on_healthy = lambda message: _on_loop(loop, healthy, message)


def _on_loop(
    loop: asyncio.AbstractEventLoop, callback: Callable[[str], None], message: str
) -> None:
    try:
        loop.call_soon_threadsafe(callback, message)
    except RuntimeError:  # the loop is closed (after shutdown): the log still says it
        log.error("journal health after shutdown: %s", message)
