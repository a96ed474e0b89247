"""The service's health endpoint on 127.0.0.1, for `tradebot watchdog` (another process,
usually another machine through a tunnel) and for `tradebot kill` / `resume`, which wait on it:
state, heartbeat ages, open incidents and the last kill's outcome as JSON, and which service
this is (its journal, owner and kill file), since a port can be another service's."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from typing import Any

from aiohttp import web

from ops.journal import owner as journal_owner
from ops.journal.owner import JournalOwner
from ops.shared.results import CheckResult, Level
from ops.watch.monitor import heartbeats
from ops.watch.parts import KillWatch, WatchedParts

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


def health(parts: WatchedParts) -> dict[str, Any]:
    """The monitor's own heartbeat checks, run now: ages are market seconds since the end of
    the newest bar (None before the first); `stale` is any of them failing."""
    checks = heartbeats(parts)
    ages = {r.key.removesuffix("-stale"): _age(r) for r in checks}
    stale = any(r.level is Level.CRITICAL for r in checks)
    settings = parts.settings()
    return {
        "strategy": settings.get("strategy.name"),
        "state": parts.trading.state.value,
        "state_reason": parts.trading.reason,
        "heartbeat_age_sec": ages,
        "stale_after_sec": settings.number("monitoring.stale_after_sec"),
        "stale": stale,
        "feed_ended": parts.run.feed_ended,
        "market_open": parts.gate.market_open,
        "open_incidents": dict(parts.incidents.open),
        "uptime_sec": round(time.monotonic() - parts.run.started_at, 1),
        "journal": parts.journal.health(),  # queue depth, write errors, dropped rows
        "kill": kill_status(parts.kill_switch),
    }


def identity(parts: WatchedParts, owner: JournalOwner | None) -> dict[str, Any]:
    """Which service answers: absolute paths, so a CLI run elsewhere compares them alike."""
    journal = parts.journal.path
    return {
        "journal": os.path.abspath(journal),
        "owner": None if owner is None else str(owner),
        "venue": None if owner is None else owner.venue,
        "account": None if owner is None else owner.account,
        "kill_file": os.path.abspath(journal_owner.kill_file(parts.settings(), journal)),
    }


def kill_status(kill_switch: KillWatch) -> dict[str, Any]:
    """Request counters (a waiting CLI compares them) and the latest kill and resume."""
    status = kill_switch.status()
    last = status.last
    return {
        "requests": status.requests,
        "kills": status.kills,
        "last": None
        if last is None
        else {**dataclasses.asdict(last), "remaining": dict(last.remaining)},
        "resume_requests": status.resume_requests,
        "resume_result": status.resume_result,
    }


def _age(result: CheckResult) -> float | None:
    age = result.data.get("age")
    return round(age, 3) if isinstance(age, float) else None


class HealthEndpoint:
    def __init__(self, parts: WatchedParts, port: int) -> None:
        self._parts = parts
        self.port = port  # 0 picks a free port; the real one is here after start()
        self._runner: web.AppRunner | None = None
        self._owner: JournalOwner | None = None

    async def start(self) -> None:
        self._owner = await asyncio.to_thread(journal_owner.recorded, self._parts.journal.path)
        app = web.Application()
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, self.port).start()
        self.port = self._runner.addresses[0][1]
        log.info("health endpoint on http://%s:%d/health", HOST, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _health(self, request: web.Request) -> web.Response:
        answer = health(self._parts)
        answer["service"] = identity(self._parts, self._owner)
        return web.json_response(answer)
