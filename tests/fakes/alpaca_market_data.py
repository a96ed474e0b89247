"""The loopback Alpaca's market data: historical bars over REST (/v2/stocks/bars, the
backfill's) and the msgpack bars websocket (/stream/data); `push_bar` feeds both. Subscriptions
are per connection: a new socket gets bars once it has subscribed. A mixin of AlpacaFake
(tests/fakes/alpaca.py), which holds the state.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import msgpack
from aiohttp import WSMsgType, web

from tests.fakes.alpaca_exchange import iso


class MarketData:
    def _add_market_data_routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/v2/stocks/bars", self._bars)
        r.add_get("/stream/data", self._data_stream)

    def hold_bars_requests(self) -> None:
        """From now on /v2/stocks/bars reads its bars on arrival but answers only after
        `release_bars_requests()`: a bar pushed meanwhile is not in that answer."""
        self._bars_replies = asyncio.Event()

    def release_bars_requests(self) -> None:
        if self._bars_replies is not None:
            self._bars_replies.set()
            self._bars_replies = None

    async def push_bar(
        self, symbol: str, ts: float, close: float, live: bool = True, quote: float | None = None
    ) -> None:
        """A minute bar: into history (for REST backfill) and, if `live`, onto the stream.
        Orders then execute at `quote` (default: the close)."""
        bar = {
            "S": symbol,
            "o": close,
            "h": close,
            "l": close,
            "c": close,
            "v": 1000,
            "n": 10,
            "vw": close,
            "ts": ts,
        }
        self.history.setdefault(symbol, []).append(bar)
        self.prices[symbol] = close if quote is None else quote
        self.now = max(self.now, ts + 60)
        if live and symbol in self._subscribed:
            frame = {
                "T": "b",
                **{k: v for k, v in bar.items() if k != "ts"},
                "t": msgpack.Timestamp.from_unix(ts),
            }
            for ws, symbols in list(self._data_subs.items()):
                if symbol in symbols and not ws.closed:
                    await ws.send_bytes(msgpack.packb([frame]))

    async def _bars(self, request: web.Request) -> web.Response:
        symbols = request.query["symbols"].split(",")
        start = datetime.fromisoformat(request.query["start"].replace("Z", "+00:00")).timestamp()
        end_text = request.query.get("end")
        end = (
            datetime.fromisoformat(end_text.replace("Z", "+00:00")).timestamp()
            if end_text
            else 9e12
        )
        limit = min(int(request.query.get("limit", 10000)), self.bars_page_size)
        offset = int(request.query.get("page_token") or 0)
        rows = sorted(
            (
                (b["ts"], s, b)
                for s in symbols
                for b in self.history.get(s, [])
                if start <= b["ts"] <= end
            ),
            key=lambda r: (r[1], r[0]),
        )
        page = rows[offset : offset + limit]
        bars: dict[str, list[dict[str, Any]]] = {}
        for ts, symbol, b in page:
            bars.setdefault(symbol, []).append(
                {
                    "t": iso(ts),
                    "o": b["o"],
                    "h": b["h"],
                    "l": b["l"],
                    "c": b["c"],
                    "v": b["v"],
                    "n": b["n"],
                    "vw": b["vw"],
                }
            )
        token = str(offset + limit) if offset + limit < len(rows) else None
        if self._bars_replies is not None:
            await self._bars_replies.wait()
        return web.json_response({"bars": bars, "next_page_token": token})

    async def _data_stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._data_ws.append(ws)
        self.data_connections += 1
        await ws.send_bytes(msgpack.packb([{"T": "success", "msg": "connected"}]))
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.BINARY:
                    continue
                data = msgpack.unpackb(msg.data)
                if data.get("action") == "auth":
                    ok = data.get("key") == "PKTEST" and not self.refuse_stream_auth
                    reply = (
                        {"T": "success", "msg": "authenticated"}
                        if ok
                        else {"T": "error", "code": 402, "msg": "auth failed"}
                    )
                    await ws.send_bytes(msgpack.packb([reply]))
                elif data.get("action") == "subscribe":
                    self._data_subs.setdefault(ws, set()).update(data.get("bars", []))
                    self._subscribed.update(data.get("bars", []))
                    await ws.send_bytes(
                        msgpack.packb(
                            [
                                {
                                    "T": "subscription",
                                    "trades": [],
                                    "quotes": [],
                                    "bars": sorted(self._data_subs[ws]),
                                    "updatedBars": [],
                                    "dailyBars": [],
                                    "statuses": [],
                                    "lulds": [],
                                    "corrections": [],
                                    "cancelErrors": [],
                                }
                            ]
                        )
                    )
        finally:
            self._data_ws.remove(ws)
            self._data_subs.pop(ws, None)
            self._subscribed = set().union(*self._data_subs.values())
        return ws

    async def drop_data_connections(self) -> None:
        for ws in list(self._data_ws):
            await ws.close(code=1011)
