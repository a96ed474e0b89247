"""A loopback Alpaca for the REAL alpaca-py clients: trading REST v2, historical bars REST,
the msgpack market-data websocket and the JSON trade_updates websocket, on 127.0.0.1.

    async with AlpacaFake() as alpaca:
        alpaca.trading_url, alpaca.data_url, alpaca.data_stream_url, alpaca.trading_stream_url

It is also a tiny exchange: market orders fill at the last price, IOC limits fill when
marketable and are canceled otherwise; every change is pushed as a trade update.
Faults and switches (each documented where it is defined):
    fail_next(method, path_part, status, code, times)   answer matching requests with an error
    slow_next_order(seconds)          the next order is placed, its reply comes `seconds` late
    fail_next_order_after_placing(status)   the next order is placed, then answered `status`
    hold_order_replies() / release_order_replies()
                                      orders are placed, their replies wait until released
    reply_as_placed = True            an order's reply shows it as placed ("new"), as Alpaca's
                                      does, while its fill goes out on the stream
    delay_fills = True / fill_pending()   orders rest as "new" until fill_pending()
    partial_next(qty)                 the next order fills `qty` shares only
    refuse_close(symbol, times)       orders reducing `symbol` are refused (403)
    mute_trade_updates = True         trade updates are lost, as on a dropped stream
    refuse_stream_auth = True         both websockets refuse the keys (REST: fail_next(.., 401))
    hold_bars_requests() / release_bars_requests()
                                      /v2/stocks/bars answers what it held on arrival, later
    drop_data_connections(), drop_trading_connections()   close the websockets (1011)
    clear_faults()                    disarm the armed one-shot faults
    charge_fee(amount, description)   a FEE account activity: the cash goes down by `amount`
Market-data subscriptions are per connection: a new socket gets bars once it has subscribed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgpack
from aiohttp import WSMsgType, web

TERMINAL = {"filled", "canceled", "rejected", "expired"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Fault:
    method: str
    path_part: str
    status: int
    code: int
    times: int


class AlpacaFake:
    def __init__(self, cash: float = 100_000.0) -> None:
        self.cash = cash
        self.prices: dict[str, float] = {}
        self.positions: dict[str, tuple[int, float]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str]] = []
        self.activities: list[dict[str, Any]] = []  # account activities (post_activity)
        self.account_flags: dict[str, bool] = {}  # e.g. trading_blocked: True
        self.account_number = "PA000"
        self.market_open = True  # GET /v2/clock's is_open
        self.opens_at: float | None = None  # while closed: the next open (wall time), when set
        self.clock_offset_sec = 0.0  # GET /v2/clock's timestamp: wall time plus this
        self.mute_trade_updates = False
        self.delay_fills = False  # orders rest as "new" until fill_pending()
        self.reply_as_placed = False
        self.refuse_stream_auth = False
        self._order_replies: asyncio.Event | None = None
        self._bars_replies: asyncio.Event | None = None
        self.bars_page_size = 10_000
        self._partial_next = 0
        self.data_connections = 0
        self.trading_connections = 0
        self._faults: list[_Fault] = []
        self._slow_order_sec = 0.0
        self._fail_after_placing = 0  # status answered once the next order is placed
        self._refusals: dict[str, int] = {}
        self._data_ws: list[web.WebSocketResponse] = []
        self._trading_ws: list[web.WebSocketResponse] = []
        self._data_subs: dict[web.WebSocketResponse, set[str]] = {}
        self._subscribed: set[str] = set()  # symbols subscribed on the open data sockets
        self._clock = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.now = 1_767_364_200.0  # 2026-01-02 09:30 New York

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> AlpacaFake:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/v2/account", self._account)
        r.add_get("/v2/account/activities", self._activities)
        r.add_get("/v2/clock", self._clock_view)
        r.add_get("/v2/positions", self._positions)
        r.add_get("/v2/positions/{symbol}", self._position)
        r.add_delete("/v2/positions", self._close_all)
        r.add_post("/v2/orders", self._submit)
        r.add_get("/v2/orders", self._list_orders)
        r.add_get("/v2/orders:by_client_order_id", self._by_client_id)
        r.add_get("/v2/orders/{order_id}", self._get_order)
        r.add_delete("/v2/orders", self._cancel_all)
        r.add_delete("/v2/orders/{order_id}", self._cancel)
        r.add_get("/v2/stocks/bars", self._bars)
        r.add_get("/stream/data", self._data_stream)
        r.add_get("/stream/trading", self._trading_stream)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in [*self._data_ws, *self._trading_ws]:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def trading_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    data_url = trading_url

    @property
    def data_stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream/data"

    @property
    def trading_stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream/trading"

    # -- faults ----------------------------------------------------------------------------

    def fail_next(
        self, method: str, path_part: str, status: int, code: int = 0, times: int = 1
    ) -> None:
        self._faults.append(_Fault(method, path_part, status, code, times))

    def slow_next_order(self, seconds: float) -> None:
        """The next order is placed at once; its reply is sent `seconds` later."""
        self._slow_order_sec = seconds

    def hold_order_replies(self) -> None:
        """From now on orders are placed (and their events pushed) at once, but the replies to
        POST /v2/orders wait until `release_order_replies()`."""
        self._order_replies = asyncio.Event()

    def release_order_replies(self) -> None:
        """Send the held order replies; later orders are answered at once again."""
        if self._order_replies is not None:
            self._order_replies.set()
            self._order_replies = None

    def hold_bars_requests(self) -> None:
        """From now on /v2/stocks/bars reads its bars on arrival but answers only after
        `release_bars_requests()`: a bar pushed meanwhile is not in that answer."""
        self._bars_replies = asyncio.Event()

    def release_bars_requests(self) -> None:
        if self._bars_replies is not None:
            self._bars_replies.set()
            self._bars_replies = None

    def refuse_close(self, symbol: str, times: int = 1) -> None:
        """The next `times` orders that reduce `symbol`'s position are refused (403)."""
        self._refusals[symbol] = times

    def partial_next(self, qty: int) -> None:
        """The next order fills only `qty` shares; an IOC remainder is canceled."""
        self._partial_next = qty

    def fill_pending(self) -> None:
        for order in list(self.orders.values()):
            if order["status"] not in TERMINAL:
                self._execute(order)

    def stop_pending(self) -> None:
        """Alpaca's `stopped`: each order not yet final has a trade guaranteed, not yet made
        (`fill_pending` makes it)."""
        for order in list(self.orders.values()):
            if order["status"] not in TERMINAL:
                order.update(status="stopped", updated_at=iso(self.now))
                self._push("stopped", order)

    def orders_for(self, client_order_id: str) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o["client_order_id"] == client_order_id]

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if not self.market_open and self.opens_at is not None and time.time() >= self.opens_at:
            self.market_open, self.delay_fills = True, False  # the open: held orders execute
            self.fill_pending()
        if request.path.startswith("/v2/") and request.headers.get("APCA-API-KEY-ID") != "PKTEST":
            return _error(401, 40110000, "request is not authorized")
        for fault in self._faults:
            if fault.method == request.method and fault.path_part in request.path:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return _error(fault.status, fault.code, f"injected {fault.status}")
        return await handler(request)

    # -- account, clock, positions ---------------------------------------------------------

    def equity(self) -> float:
        return self.cash + sum(q * self.prices.get(s, a) for s, (q, a) in self.positions.items())

    async def _account(self, request: web.Request) -> web.Response:
        equity = self.equity()
        return web.json_response(
            {
                "id": str(uuid.uuid4()),
                "account_number": self.account_number,
                "status": "ACTIVE",
                "currency": "USD",
                "cash": str(self.cash),
                "equity": str(equity),
                "buying_power": str(equity),
                "portfolio_value": str(equity),
                "last_equity": str(equity),
                "multiplier": "1",
                **self.account_flags,
            }
        )

    async def _clock_view(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "timestamp": iso(time.time() + self.clock_offset_sec),
                "is_open": self.market_open,
                "next_open": iso(self.opens_at or self.now + 86400),
                "next_close": iso(self.now + 23400),
            }
        )

    def _position_json(self, symbol: str) -> dict[str, Any]:
        qty, avg = self.positions[symbol]
        price = self.prices.get(symbol, avg)
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
            "symbol": symbol,
            "exchange": "NASDAQ",
            "asset_class": "us_equity",
            "avg_entry_price": str(avg),
            "qty": str(qty),
            "side": "long" if qty > 0 else "short",
            "market_value": str(qty * price),
            "cost_basis": str(qty * avg),
            "current_price": str(price),
            "unrealized_pl": str((price - avg) * qty),
        }

    async def _positions(self, request: web.Request) -> web.Response:
        return web.json_response([self._position_json(s) for s in self.positions])

    async def _position(self, request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"]
        if symbol not in self.positions:
            return _error(404, 40410000, "position does not exist")
        return web.json_response(self._position_json(symbol))

    async def _close_all(self, request: web.Request) -> web.Response:
        if request.query.get("cancel_orders", "").lower() == "true":
            self._cancel_working()
        results = []
        for symbol, (qty, _) in list(self.positions.items()):
            if self._refusals.get(symbol, 0) > 0:
                self._refusals[symbol] -= 1
                results.append(
                    {
                        "symbol": symbol,
                        "status": 403,
                        "body": {"code": 40310000, "message": "close refused"},
                    }
                )
                continue
            order = self._new_order(
                {
                    "symbol": symbol,
                    "qty": str(abs(qty)),
                    "side": "sell" if qty > 0 else "buy",
                    "type": "market",
                    "time_in_force": "day",
                },
                f"close-{symbol}-{next(self._clock)}",
            )
            if not self.delay_fills:
                self._execute(order)
            results.append({"symbol": symbol, "status": 200, "body": order})
        return web.json_response(results, status=207)

    # -- orders ----------------------------------------------------------------------------

    def _new_order(self, body: dict[str, Any], client_order_id: str) -> dict[str, Any]:
        now = iso(self.now)
        order = {
            "id": str(uuid.uuid4()),
            "client_order_id": client_order_id,
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": None,
            "canceled_at": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, body["symbol"])),
            "symbol": body["symbol"],
            "asset_class": "us_equity",
            "qty": str(int(float(body["qty"]))),
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": "simple",
            "order_type": body["type"],
            "type": body["type"],
            "side": body["side"],
            "time_in_force": body["time_in_force"],
            "limit_price": body.get("limit_price"),
            "stop_price": None,
            "status": "new",
            "extended_hours": False,
            "legs": None,
        }
        self.orders[order["id"]] = order
        self._push("new", order)
        return order

    def _execute(self, order: dict[str, Any]) -> None:
        """Fill at the last price if marketable; IOC leftovers are canceled."""
        symbol, side = order["symbol"], order["side"]
        price = self.prices[symbol]
        limit = order["limit_price"]
        marketable = limit is None or (
            price <= float(limit) if side == "buy" else price >= float(limit)
        )
        if not marketable:
            if order["time_in_force"] == "ioc":
                self._finish(order, "canceled")
            return
        qty = int(order["qty"]) - int(order["filled_qty"])  # stored as whole-number strings
        partial = 0 < self._partial_next < qty
        if partial:
            qty, self._partial_next = self._partial_next, 0
        signed = qty if side == "buy" else -qty
        held, avg = self.positions.get(symbol, (0, 0.0))
        total = held + signed
        if total == 0:
            self.positions.pop(symbol, None)
        elif held == 0 or (held > 0) == (signed > 0):
            self.positions[symbol] = (total, (avg * held + price * signed) / total)
        else:
            self.positions[symbol] = (total, avg if (total > 0) == (held > 0) else price)
        self.cash -= signed * price
        done = int(order["filled_qty"]) + qty
        before = float(order["filled_avg_price"] or 0) * int(order["filled_qty"])
        order.update(
            filled_qty=str(done),
            filled_avg_price=str((before + price * qty) / done),
            status="partially_filled" if partial else "filled",
            updated_at=iso(self.now),
        )
        if not partial:
            order["filled_at"] = iso(self.now)
        self._push(
            "partial_fill" if partial else "fill", order, price=price, qty=qty, position_qty=total
        )
        if partial and order["time_in_force"] == "ioc":
            self._finish(order, "canceled")

    def _finish(self, order: dict[str, Any], status: str) -> None:
        order.update(status=status, updated_at=iso(self.now))
        if status == "canceled":
            order["canceled_at"] = iso(self.now)
        self._push(status, order)

    async def _submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        coid = body.get("client_order_id") or str(uuid.uuid4())
        if self.orders_for(coid):
            return _error(422, 40010001, "client_order_id must be unique")
        if body["symbol"] not in self.prices:
            return _error(422, 40010001, f"no price for {body['symbol']}")
        limit = body.get("limit_price")
        if limit is not None and round(float(limit), 2) != float(limit):
            return _error(422, 42210000, "invalid limit_price: sub-penny increment")
        cost = float(body["qty"]) * float(limit or self.prices[body["symbol"]])
        if body["side"] == "buy" and cost > self.cash:
            return _error(403, 40310000, "insufficient buying power")
        held = self.positions.get(body["symbol"], (0, 0.0))[0]
        reducing = held and (held > 0) == (body["side"] == "sell")
        if reducing and self._refusals.get(body["symbol"], 0) > 0:
            self._refusals[body["symbol"]] -= 1
            return _error(403, 40310000, f"cannot close {body['symbol']} right now")
        order = self._new_order(body, coid)
        reply = dict(order)
        if not self.delay_fills:
            self._execute(order)
        if not self.reply_as_placed:
            reply = order
        if self._order_replies is not None:
            await self._order_replies.wait()
        if self._slow_order_sec:
            delay, self._slow_order_sec = self._slow_order_sec, 0.0
            await asyncio.sleep(delay)
        if self._fail_after_placing:
            status, self._fail_after_placing = self._fail_after_placing, 0
            return _error(status, 50010000, f"injected {status} after placing the order")
        return web.json_response(reply)

    async def _list_orders(self, request: web.Request) -> web.Response:
        wanted = request.query.get("status", "open")
        orders = [
            o
            for o in self.orders.values()
            if wanted == "all" or (wanted == "open") == (o["status"] not in TERMINAL)
        ]
        return web.json_response(orders)

    async def _by_client_id(self, request: web.Request) -> web.Response:
        found = self.orders_for(request.query.get("client_order_id", ""))
        if not found:
            return _error(404, 40410000, "order not found")
        return web.json_response(found[0])

    async def _get_order(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return _error(404, 40410000, "order not found")
        return web.json_response(order)

    def _cancel_working(self) -> list[dict[str, Any]]:
        working = [o for o in self.orders.values() if o["status"] not in TERMINAL]
        for order in working:
            self._finish(order, "canceled")
        return working

    async def _cancel_all(self, request: web.Request) -> web.Response:
        canceled = self._cancel_working()
        return web.json_response(
            [{"id": o["id"], "status": 200, "body": o} for o in canceled], status=207
        )

    async def _cancel(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return _error(404, 40410000, "order not found")
        if order["status"] in TERMINAL:
            return _error(422, 42210000, "order is not cancelable")
        self._finish(order, "canceled")
        return web.Response(status=204)

    # -- market data -----------------------------------------------------------------------

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

    # -- trade updates ---------------------------------------------------------------------

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

    # -- soak hooks --------------------------------------------------------------------------

    def fail_next_order_after_placing(self, status: int = 503) -> None:
        """The next order is placed (and executes as usual), then answered with `status`:
        the broker acted but the reply says it failed."""
        self._fail_after_placing = status

    def clear_faults(self) -> None:
        """Disarm every armed fault (failures, slow reply, refusals, partial fill)."""
        self._faults.clear()
        self._slow_order_sec = 0.0
        self._fail_after_placing = 0
        self._refusals.clear()
        self._partial_next = 0

    # -- account activities (fees, dividends) ----------------------------------------------

    def charge_fee(self, amount: float, description: str = "REG/TAF fee") -> str:
        """Alpaca books a fee against the account's cash (an activity of type FEE); its id."""
        return self.post_activity("FEE", -amount, description)

    def pay_dividend(self, symbol: str, amount: float) -> str:
        """Alpaca credits a cash dividend to the account (an activity of type DIV); its id."""
        return self.post_activity("DIV", amount, f"Cash DIV {symbol}")

    def post_activity(self, kind: str, net_amount: float, description: str) -> str:
        """A non-trade activity moving `net_amount` into the account's cash; its id."""
        day = datetime.fromtimestamp(self.now, UTC).strftime("%Y%m%d")
        activity = {
            "id": f"{day}{len(self.activities):09d}::{uuid.uuid4()}",
            "account_id": str(uuid.UUID(int=1)),
            "activity_type": kind,
            "date": f"{day[:4]}-{day[4:6]}-{day[6:]}",
            "net_amount": str(net_amount),
            "description": description,
            "status": "executed",
        }
        self.activities.append(activity)
        self.cash += net_amount
        return str(activity["id"])

    async def _activities(self, request: web.Request) -> web.Response:
        """GET /v2/account/activities: activity_types, direction, page_size, page_token."""
        q = request.query
        kinds = set(q.get("activity_types", "").split(",")) - {""}
        found = [a for a in self.activities if not kinds or a["activity_type"] in kinds]
        if q.get("direction", "desc") == "desc":
            found.reverse()
        if "page_token" in q:
            ids = [a["id"] for a in found]
            found = found[ids.index(q["page_token"]) + 1 :] if q["page_token"] in ids else []
        return web.json_response(found[: int(q.get("page_size", 100))])


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)
