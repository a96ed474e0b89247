"""The loopback Alpaca's trade_updates websocket (/stream/trading, JSON): authenticate,
listen, then every order event of its exchange. A mixin of AlpacaFake (tests/fakes/alpaca.py),
which holds the state.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from tests.fakes.alpaca_exchange import iso


class TradeUpdates:
    def _add_trade_updates_routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/stream/trading", self._trading_stream)

    def _push(self, event: str, order: dict[str, Any], **extra: Any) -> None:
        if self.mute_trade_updates:
            return
        message = json.dumps(
            {
                "stream": "trade_updates",
                "data": {"event": event, "order": dict(order), "timestamp": iso(self.now), **extra},
            }
        )
        for ws in list(self._trading_ws):
            if not ws.closed:
                asyncio.get_running_loop().create_task(ws.send_str(message))

    async def _trading_stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.trading_connections += 1
        try:
            async for msg in ws:
                data = json.loads(msg.data)
                if data.get("action") == "authenticate":
                    ok = data["data"].get("key_id") == "PKTEST" and not self.refuse_stream_auth
                    await ws.send_str(
                        json.dumps(
                            {
                                "stream": "authorization",
                                "data": {
                                    "status": "authorized" if ok else "unauthorized",
                                    "action": "authenticate",
                                },
                            }
                        )
                    )
                elif data.get("action") == "listen":
                    self._trading_ws.append(ws)
                    await ws.send_str(
                        json.dumps({"stream": "listening", "data": {"streams": ["trade_updates"]}})
                    )
        finally:
            if ws in self._trading_ws:
                self._trading_ws.remove(ws)
        return ws

    async def drop_trading_connections(self) -> None:
        for ws in list(self._trading_ws):
            await ws.close(code=1011)
