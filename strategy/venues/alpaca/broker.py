"""The Alpaca broker: TradingClient calls in worker threads, paced and idempotent, plus the
trade_updates stream driven as a task on our loop.

Every update is learned once: `submit` and `close_all` return their acks to the caller, who
applies them; the listeners get stream events and re-reads after a reconnect, and only what
is news (OrderTracker)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.models import FailedClosePositionDetails
from alpaca.trading.requests import GetOrdersRequest
from alpaca.trading.stream import TradingStream

from strategy.types import (
    Account,
    BrokerPosition,
    Charge,
    CloseAllResult,
    MarketClock,
    OrderRequest,
    OrderUpdate,
)
from strategy.venue import (
    BrokerAuthError,
    BrokerError,
    BrokerUnavailable,
    OrderListener,
    OrderRejected,
    SendCheck,
    SendRefused,
    WriteCheck,
    allow_every_order,
    allow_writes,
)
from strategy.venues.alpaca.activities import CashActivities
from strategy.venues.alpaca.catch_up import CatchUp
from strategy.venues.alpaca.internals import no_retries, run_forever
from strategy.venues.alpaca.mapping import (
    NotFound,
    account_of,
    broker_position,
    implied_fill,
    market_clock,
    order_request,
    order_update,
    trade_update,
)
from strategy.venues.alpaca.rest_calls import RestCalls
from strategy.venues.alpaca.streams import (
    ProblemSink,
    ReconnectingTradingStream,
    RecoveredSink,
    Refusals,
    log_problem,
    log_recovered,
    quiet_refusals,
    stop_stream,
)
from strategy.venues.alpaca.timeouts import bound_requests, stream_params
from strategy.venues.alpaca.tracking import OrderTracker

log = logging.getLogger(__name__)


class AlpacaBroker:
    name = "alpaca"

    def __init__(
        self,
        client: TradingClient,
        stream: TradingStream | None,
        requests_per_min: float = 200.0,
        commission_per_share: float = 0.0,
        rate_limit_pause_sec: float = 5.0,
        reread_backoff_sec: float = 0.2,
        reread_backoff_cap_sec: float = 5.0,
    ) -> None:
        self._client = client
        self._call = RestCalls(
            requests_per_min, rate_limit_pause_sec, self._rest_refused, self._rest_accepted
        )
        self._stream = stream
        self._commission = commission_per_share
        self._listeners: list[OrderListener] = []
        self._send_check: SendCheck = allow_every_order
        self._write_check: WriteCheck = allow_writes
        self._orders = OrderTracker()
        self._sending: set[str] = set()  # submits whose outcome is not known yet
        self._catch_up = CatchUp(
            self._orders,
            self._sending,
            self._lookup,
            self._emit,
            reread_backoff_sec,
            reread_backoff_cap_sec,
        )
        self._stream_task: asyncio.Task[None] | None = None
        self._activities = CashActivities(self._get)
        self._refusals = Refusals(
            "broker-auth", "trading", "ALPACA_API_KEY, ALPACA_SECRET_KEY and broker.paper"
        )
        self.on_problem: ProblemSink = log_problem
        self.on_recovered: RecoveredSink = log_recovered
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
        reread_backoff_sec: float = 0.2,
    ) -> AlpacaBroker:
        client = TradingClient(api_key, secret_key, paper=paper, url_override=trading_url or None)
        bound_requests(client, timeout_sec)
        no_retries(client)  # we own the retry policy: a blind retry could place a second order
        stream = ReconnectingTradingStream(
            api_key,
            secret_key,
            paper=paper,
            url_override=stream_url or None,
            websocket_params=stream_params(timeout_sec),
        )
        return cls(
            client,
            stream,
            requests_per_min,
            commission_per_share,
            rate_limit_pause_sec,
            reread_backoff_sec,
        )

    # -- plumbing --------------------------------------------------------------------------

    def _rest_refused(self, cause: str) -> None:
        self._refusals.refused("REST API", cause, self.on_problem)

    def _rest_accepted(self) -> None:
        self._refusals.accepted("REST API", self.on_recovered)

    def _emit(self, update: OrderUpdate) -> None:
        """Stream events and re-reads: to the listeners, if they are news."""
        before = self._orders.last(update.client_order_id)
        if not self._orders.news(update):
            return
        update = implied_fill(update, before, self._commission)
        for listener in self._listeners:
            listener(update)

    def subscribe(self, listener: OrderListener) -> None:
        self._listeners.append(listener)

    def guard(self, check: SendCheck) -> None:
        self._send_check = check

    def guard_writes(self, check: WriteCheck) -> None:
        self._write_check = check

    def _order_refusal(self, order: OrderRequest) -> str | None:
        """In the thread that sends: the order's own check, then the right to write."""
        refusal = self._send_check(order)
        return refusal if refusal is not None else self._write_check()

    @property
    def working_order_ids(self) -> tuple[str, ...]:
        """Orders that may still be live at Alpaca: re-read after every reconnect."""
        return tuple(self._orders.working())

    # -- streams ---------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._activities.note()  # the starting cash, just read, includes these
        except BrokerError as exc:  # noted at the first new_charges() instead
            log.warning("Alpaca fees not read at start-up: %s", exc)
        if self._stream is None:
            return
        self._stream.subscribe_trade_updates(self._on_trade_update)
        if isinstance(self._stream, ReconnectingTradingStream):
            quiet_refusals("alpaca.trading.stream")
            self._stream.on_listening = self._on_stream_connected
            self._stream.on_refused = self._on_stream_refused
        self._stream_task = asyncio.get_running_loop().create_task(
            run_forever(self._stream), name="alpaca-trade-updates"
        )

    async def stop(self) -> None:
        await self._catch_up.stop()
        if self._stream is not None and self._stream_task is not None:
            await stop_stream(self._stream, self._stream_task)

    async def _on_trade_update(self, update: Any) -> None:
        self._emit(trade_update(update, self._commission))

    def _on_stream_refused(self, cause: str) -> None:
        self._refusals.refused("trade_updates stream", cause, self.on_problem)

    def _on_stream_connected(self) -> None:
        """Listening again: whatever happened while the socket was down is re-read."""
        self.reconnects += 1
        self._refusals.accepted("trade_updates stream", self.on_recovered)
        self._catch_up.start()

    # -- Broker protocol -------------------------------------------------------------------

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        """Never sends twice: a failure in transit (or a 422 'not unique') is resolved by
        looking the order up by its client_order_id before anything else happens. The ack
        is returned for the caller to apply, never also given to the listeners."""
        coid = order.client_order_id
        self._orders.sent(coid)
        self._sending.add(coid)
        try:
            return await self._place(order)
        finally:
            self._sending.discard(coid)

    async def _place(self, order: OrderRequest) -> OrderUpdate:
        coid = order.client_order_id
        try:
            placed = await self._call(
                self._client.submit_order,
                order_request(order),
                send_check=lambda: self._order_refusal(order),
            )
        except (BrokerAuthError, SendRefused):
            self._orders.not_placed(coid)
            raise
        except (BrokerUnavailable, OrderRejected) as exc:
            found = await self._lookup(coid)  # if this fails too, the order stays tracked
            if found is None:
                self._orders.not_placed(coid)
                raise
            log.warning("submit of %s reported %s, but it was placed", coid, exc)
            return self._reply(found)
        return self._reply(order_update(placed))  # type: ignore[arg-type]

    def _reply(self, update: OrderUpdate) -> OrderUpdate:
        """What the caller of a REST request applies (OrderTracker.reply), with the shares
        it shows filled beyond the last view passed on as a Fill carrying their commission."""
        before = self._orders.last(update.client_order_id)
        return implied_fill(self._orders.reply(update), before, self._commission)

    async def get_order(self, client_order_id: str) -> OrderUpdate | None:
        """The order as its caller (a lookup after a failed submit, recovery) should apply it."""
        found = await self._lookup(client_order_id)
        return self._reply(found) if found is not None else None

    async def _lookup(self, client_order_id: str) -> OrderUpdate | None:
        try:
            order = await self._call(self._client.get_order_by_client_id, client_order_id)
        except NotFound:
            return None
        return order_update(order)  # type: ignore[arg-type]

    async def cancel(self, client_order_id: str) -> None:
        found = await self._lookup(client_order_id)
        if found is not None and not found.status.is_final:
            cancel = self._client.cancel_order_by_id
            await self._call(cancel, found.broker_order_id, send_check=self._write_check)

    async def cancel_all(self) -> None:
        await self._call(self._client.cancel_orders, send_check=self._write_check)

    async def close_all(self) -> CloseAllResult:
        """close_all_positions(cancel_orders=True): one request places every close order."""
        results: Any = await self._call(
            self._client.close_all_positions, True, send_check=self._write_check
        )
        placed, refused = [], []
        for result in results:
            if isinstance(result.body, FailedClosePositionDetails):
                refused.append(f"{result.symbol}: {result.body.message}")
                continue
            placed.append(self._reply(order_update(result.body)))
        return CloseAllResult(tuple(placed), tuple(refused))

    async def positions(self) -> list[BrokerPosition]:
        held: Any = await self._call(self._client.get_all_positions)
        return [broker_position(p) for p in held]

    async def account(self) -> Account:
        return account_of(await self._call(self._client.get_account))

    async def clock(self) -> MarketClock:
        return market_clock(await self._call(self._client.get_clock))

    async def open_orders(self) -> list[OrderUpdate]:
        request = GetOrdersRequest(status=QueryOrderStatus.OPEN)
        orders = await self._call(self._client.get_orders, request)
        return [order_update(o) for o in orders]  # type: ignore[arg-type]

    async def new_charges(self) -> list[Charge]:
        """Fees, dividends and interest posted since the last call (see activities.py)."""
        return await self._activities.new()

    async def _get(self, path: str, query: dict[str, object]) -> Any:
        return await self._call(self._client.get, path, query)
