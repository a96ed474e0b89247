"""The loopback Alpaca's trading REST v2 (account, clock, positions, orders, account
activities), answered from its exchange (alpaca_exchange.py) for the real TradingClient. A
mixin of AlpacaFake (tests/fakes/alpaca.py), which holds the state.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.alpaca_exchange import TERMINAL, iso


class TradingRest:
    def _add_trading_routes(self, r: web.UrlDispatcher) -> None:
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

    # -- account, clock, positions ---------------------------------------------------------

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
            return alpaca_error(404, 40410000, "position does not exist")
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

    # -- orders ----------------------------------------------------------------------------

    async def _submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        coid = body.get("client_order_id") or str(uuid.uuid4())
        if self.orders_for(coid):
            return alpaca_error(422, 40010001, "client_order_id must be unique")
        if body["symbol"] not in self.prices:
            return alpaca_error(422, 40010001, f"no price for {body['symbol']}")
        limit = body.get("limit_price")
        if limit is not None and round(float(limit), 2) != float(limit):
            return alpaca_error(422, 42210000, "invalid limit_price: sub-penny increment")
        cost = float(body["qty"]) * float(limit or self.prices[body["symbol"]])
        if body["side"] == "buy" and cost > self.cash:
            return alpaca_error(403, 40310000, "insufficient buying power")
        held = self.positions.get(body["symbol"], (0, 0.0))[0]
        reducing = held and (held > 0) == (body["side"] == "sell")
        if reducing and self._refusals.get(body["symbol"], 0) > 0:
            self._refusals[body["symbol"]] -= 1
            return alpaca_error(403, 40310000, f"cannot close {body['symbol']} right now")
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
            return alpaca_error(status, 50010000, f"injected {status} after placing the order")
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
            return alpaca_error(404, 40410000, "order not found")
        return web.json_response(found[0])

    async def _get_order(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return alpaca_error(404, 40410000, "order not found")
        return web.json_response(order)

    async def _cancel_all(self, request: web.Request) -> web.Response:
        canceled = self._cancel_working()
        return web.json_response(
            [{"id": o["id"], "status": 200, "body": o} for o in canceled], status=207
        )

    async def _cancel(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return alpaca_error(404, 40410000, "order not found")
        if order["status"] in TERMINAL:
            return alpaca_error(422, 42210000, "order is not cancelable")
        self._finish(order, "canceled")
        return web.Response(status=204)

    # -- market data -----------------------------------------------------------------------

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


def alpaca_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)
