"""The service's health endpoint on 127.0.0.1, for `tradebot watchdog` (another process,
usually another machine through a tunnel): state, heartbeat ages, open incidents as JSON."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from ops.service import TradingService

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


def health(service: TradingService) -> dict[str, Any]:
    """Ages are market seconds since the end of the newest bar (None before the first);
    `stale` applies the monitor's limit, and only while the market is open."""
    now = service.clock.now()
    bar_sec = service.settings.number("sim.bar_sec")
    limit = service.settings.number("monitoring.stale_after_sec")

    def age(stamp: float | None) -> float | None:
        return None if stamp is None else round(now - (stamp + bar_sec), 3)

    ages = {"feed": age(service.feed.last_bar_ts), "engine": age(service.engine.last_bar_ts)}
    stopped = not service.engine_running and not service.feed_ended
    stale = service.gate.market_open and (
        stopped or any(a is not None and a > limit for a in ages.values())
    )
    return {
        "strategy": service.settings.get("strategy.name"),
        "state": service.gate.state.value,
        "state_reason": service.gate.state_reason,
        "heartbeat_age_sec": ages,
        "stale_after_sec": limit,
        "stale": stale,
        "feed_ended": service.feed_ended,
        "market_open": service.gate.market_open,
        "open_incidents": dict(service.open_alerts),
        "uptime_sec": round(time.monotonic() - service.started_at, 1),
    }


class HealthEndpoint:
    def __init__(self, service: TradingService, port: int) -> None:
        self._service = service
        self.port = port  # 0 picks a free port; the real one is here after start()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
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
        return web.json_response(health(self._service))
