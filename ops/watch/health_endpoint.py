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
from ops.service.service import TradingService
from ops.shared.results import CheckResult, Level
from ops.watch.monitor import heartbeats

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


def health(service: TradingService) -> dict[str, Any]:
    """The monitor's own heartbeat checks, run now: ages are market seconds since the end of
    the newest bar (None before the first); `stale` is any of them failing."""
    checks = heartbeats(service)
    ages = {r.key.removesuffix("-stale"): _age(r) for r in checks}
    stale = any(r.level is Level.CRITICAL for r in checks)
    return {
        "strategy": service.settings.get("strategy.name"),
        "state": service.gate.state.value,
        "state_reason": service.gate.state_reason,
        "heartbeat_age_sec": ages,
        "stale_after_sec": service.settings.number("monitoring.stale_after_sec"),
        "stale": stale,
        "feed_ended": service.feed_ended,
        "market_open": service.gate.market_open,
        "open_incidents": dict(service.open_alerts),
        "uptime_sec": round(time.monotonic() - service.started_at, 1),
        "journal": service.journal.health(),  # queue depth, write errors, dropped rows
        "kill": kill_status(service),
    }


def identity(service: TradingService, owner: JournalOwner | None) -> dict[str, Any]:
    """Which service answers: absolute paths, so a CLI run elsewhere compares them alike."""
    return {
        "journal": os.path.abspath(service.journal.path),
        "owner": None if owner is None else str(owner),
        "venue": None if owner is None else owner.venue,
        "account": None if owner is None else owner.account,
        "kill_file": os.path.abspath(service.kill_file),
    }


def kill_status(service: TradingService) -> dict[str, Any]:
    """Request counters (a waiting CLI compares them) and the latest kill and resume."""
    status = service.kill_switch.status()
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
    def __init__(self, service: TradingService, port: int) -> None:
        self._service = service
        self.port = port  # 0 picks a free port; the real one is here after start()
        self._runner: web.AppRunner | None = None
        self._owner: JournalOwner | None = None

    async def start(self) -> None:
        self._owner = await asyncio.to_thread(journal_owner.recorded, self._service.journal.path)
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
        answer = health(self._service)
        answer["service"] = identity(self._service, self._owner)
        return web.json_response(answer)
