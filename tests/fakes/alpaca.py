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
The protocols live in their own modules, mixed in here: alpaca_rest.py (trading REST v2),
alpaca_market_data.py (bars REST and websocket), alpaca_trade_updates.py (trade_updates
websocket), over alpaca_exchange.py (orders, fills, positions, activities).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.alpaca_exchange import TERMINAL, Exchange, iso
from tests.fakes.alpaca_market_data import MarketData
from tests.fakes.alpaca_rest import TradingRest, alpaca_error
from tests.fakes.alpaca_trade_updates import TradeUpdates

__all__ = ["TERMINAL", "AlpacaFake", "iso"]


@dataclass
class _Fault:
    method: str
    path_part: str
    status: int
    code: int
    times: int


class AlpacaFake(TradingRest, MarketData, TradeUpdates, Exchange):
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
        self._add_trading_routes(app.router)
        self._add_market_data_routes(app.router)
        self._add_trade_updates_routes(app.router)
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

    def refuse_close(self, symbol: str, times: int = 1) -> None:
        """The next `times` orders that reduce `symbol`'s position are refused (403)."""
        self._refusals[symbol] = times

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if not self.market_open and self.opens_at is not None and time.time() >= self.opens_at:
            self.market_open, self.delay_fills = True, False  # the open: held orders execute
            self.fill_pending()
        if request.path.startswith("/v2/") and request.headers.get("APCA-API-KEY-ID") != "PKTEST":
            return alpaca_error(401, 40110000, "request is not authorized")
        for fault in self._faults:
            if fault.method == request.method and fault.path_part in request.path:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return alpaca_error(fault.status, fault.code, f"injected {fault.status}")
        return await handler(request)

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
