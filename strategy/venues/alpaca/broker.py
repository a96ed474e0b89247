"""The Alpaca broker: TradingClient calls in worker threads, paced and idempotent, plus the
trade_updates stream driven as a task on our loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.models import FailedClosePositionDetails
from alpaca.trading.requests import GetOrdersRequest
from alpaca.trading.stream import TradingStream

from strategy.types import (
    Account,
    BrokerPosition,
    CloseAllResult,
    MarketClock,
    OrderRequest,
    OrderUpdate,
)
from strategy.venue import BrokerError, BrokerUnavailable, OrderListener, OrderRejected
from strategy.venues.alpaca.mapping import (
    NotFound,
    RateLimited,
    broker_error,
    order_request,
    order_update,
    trade_update,
)
from strategy.venues.alpaca.pacing import TokenBucket
from strategy.venues.alpaca.streams import stop_stream

log = logging.getLogger(__name__)
T = TypeVar("T")


class _TimeoutSession(requests.Session):
    """alpaca-py sets no request timeout; every request through this session has one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


class _ReconnectingTradingStream(TradingStream):
    """alpaca-py's stream, with a hook after every (re)connection: fills that happened while
    the socket was down are recovered by re-reading orders over REST."""

    on_connected: Callable[[], None] = staticmethod(lambda: None)

    async def _start_ws(self) -> None:
        await super()._start_ws()
        self.on_connected()


class AlpacaBroker:
    name = "alpaca"

    def __init__(
        self,
        client: TradingClient,
        stream: TradingStream | None,
        requests_per_min: float = 200.0,
        commission_per_share: float = 0.0,
        rate_limit_pause_sec: float = 5.0,
    ) -> None:
        self._client = client
        self._rate_limit_pause = rate_limit_pause_sec
        self._stream = stream
        self._bucket = TokenBucket(requests_per_min)
        self._commission = commission_per_share
        self._listeners: list[OrderListener] = []
        self._working: set[str] = set()  # client_order_ids believed live at the broker
        self._stream_task: asyncio.Task[None] | None = None
        self.reconnects = 0

    @classmethod
    def connect(
        cls,
        api_key: str,
        secret_key: str,
        paper: bool,
        trading_url: str,
        stream_url: str,
        requests_per_min: float,
        commission_per_share: float,
        timeout_sec: float = 10.0,
        rate_limit_pause_sec: float = 5.0,
    ) -> AlpacaBroker:
        client = TradingClient(api_key, secret_key, paper=paper, url_override=trading_url or None)
        client._session = _TimeoutSession(timeout_sec)  # the client has no timeout of its own
        client._retry = 0  # we own the retry policy: a blind retry could place a second order
        stream = _ReconnectingTradingStream(
            api_key, secret_key, paper=paper, url_override=stream_url or None
        )
        return cls(client, stream, requests_per_min, commission_per_share, rate_limit_pause_sec)

    # -- plumbing --------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """One REST call, paced, in a worker thread, errors mapped to the BrokerError tree."""
        await self._bucket.acquire()
        try:
            return await asyncio.to_thread(fn, *args)
        except Exception as exc:
            mapped = broker_error(exc)
            if isinstance(mapped, RateLimited):
                self._bucket.pause(self._rate_limit_pause)
            raise mapped from exc

    def _emit(self, update: OrderUpdate) -> None:
        if update.status.is_final:
            self._working.discard(update.client_order_id)
        else:
            self._working.add(update.client_order_id)
        for listener in self._listeners:
            listener(update)

    def subscribe(self, listener: OrderListener) -> None:
        self._listeners.append(listener)

    # -- streams ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._stream is None:
            return
        self._stream.subscribe_trade_updates(self._on_trade_update)
        if isinstance(self._stream, _ReconnectingTradingStream):
            self._stream.on_connected = self._on_stream_connected
        self._stream_task = asyncio.get_running_loop().create_task(
            self._stream._run_forever(), name="alpaca-trade-updates"
        )

    async def stop(self) -> None:
        if self._stream is not None and self._stream_task is not None:
            await stop_stream(self._stream, self._stream_task)

    async def _on_trade_update(self, update: Any) -> None:
        self._emit(trade_update(update, self._commission))

    def _on_stream_connected(self) -> None:
        self.reconnects += 1
        if self.reconnects > 1 and self._working:
            asyncio.get_running_loop().create_task(self.refresh_working(), name="alpaca-refresh")

    async def refresh_working(self) -> None:
        """Re-read every order we believe is live; the book ignores what it already knows."""
        for coid in list(self._working):
            try:
                found = await self.get_order(coid)
            except BrokerError as exc:
                log.warning("could not re-read %s after a reconnect: %s", coid, exc)
                continue
            if found is not None:
                self._emit(found)

    # -- Broker protocol -------------------------------------------------------------------

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        """Never sends twice: a failure in transit (or a 422 'not unique') is resolved by
        looking the order up by its client_order_id before anything else happens."""
        try:
            placed = await self._call(self._client.submit_order, order_request(order))
        except (BrokerUnavailable, OrderRejected) as exc:
            found = await self.get_order(order.client_order_id)
            if found is not None:
                log.warning(
                    "submit of %s reported %s, but it was placed", order.client_order_id, exc
                )
                self._emit(found)
                return found
            raise
        update = order_update(placed)  # type: ignore[arg-type]
        self._emit(update)
        return update

    async def get_order(self, client_order_id: str) -> OrderUpdate | None:
        try:
            order = await self._call(self._client.get_order_by_client_id, client_order_id)
        except NotFound:
            return None
        return order_update(order)  # type: ignore[arg-type]

    async def cancel(self, client_order_id: str) -> None:
        found = await self.get_order(client_order_id)
        if found is not None and not found.status.is_final:
            await self._call(self._client.cancel_order_by_id, found.broker_order_id)

    async def cancel_all(self) -> None:
        await self._call(self._client.cancel_orders)

    async def close_all(self) -> CloseAllResult:
        """close_all_positions(cancel_orders=True): one request places every close order."""
        results: Any = await self._call(self._client.close_all_positions, True)
        placed, refused = [], []
        for result in results:
            if isinstance(result.body, FailedClosePositionDetails):
                refused.append(f"{result.symbol}: {result.body.message}")
                continue
            update = order_update(result.body)
            if not update.status.is_final:  # re-read after a reconnect, like our own orders
                self._working.add(update.client_order_id)
            placed.append(update)
        return CloseAllResult(tuple(placed), tuple(refused))

    async def positions(self) -> list[BrokerPosition]:
        held = await self._call(self._client.get_all_positions)
        return [
            BrokerPosition(
                symbol=p.symbol,  # type: ignore[union-attr]
                qty=int(float(p.qty)),  # type: ignore[union-attr]
                avg_price=float(p.avg_entry_price),  # type: ignore[union-attr]
                market_price=float(p.current_price or p.avg_entry_price),  # type: ignore[union-attr]
            )
            for p in held
        ]

    async def account(self) -> Account:
        a: Any = await self._call(self._client.get_account)
        return Account(
            equity=float(a.equity), cash=float(a.cash), buying_power=float(a.buying_power)
        )

    async def clock(self) -> MarketClock:
        c: Any = await self._call(self._client.get_clock)
        return MarketClock(
            c.is_open, c.timestamp.timestamp(), c.next_open.timestamp(), c.next_close.timestamp()
        )

    async def open_orders(self) -> list[OrderUpdate]:
        request = GetOrdersRequest(status=QueryOrderStatus.OPEN)
        orders = await self._call(self._client.get_orders, request)
        return [order_update(o) for o in orders]  # type: ignore[arg-type]
