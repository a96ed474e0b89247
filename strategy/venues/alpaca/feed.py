"""Alpaca minute bars: StockDataStream driven as a task on our loop (its run() would call
asyncio.run). No bar is skipped: after every (re)subscription, and whenever a symbol's bar
comes more than a minute after its previous one during the session, the missing minutes are
backfilled over REST while live bars wait; bars reach the engine once each, in time order.
A backfill that has not answered within `timeout_sec` is given up: live bars wait no longer.

Incidents go out through `on_problem(key, severity, message)` / `on_recovered(key, message)`
(wired by the service; the defaults log): `feed-gap` when missing minutes could not be
backfilled or a backfill did not answer in time, `feed-auth` when Alpaca refuses the keys or
the data subscription.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.stock import StockDataStream
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame

from strategy.clock import Clock
from strategy.market_day import NEW_YORK, session_open
from strategy.types import Bar
from strategy.venues.alpaca.internals import run_forever
from strategy.venues.alpaca.streams import (
    ProblemSink,
    RecoveredSink,
    RefusalHook,
    Refusals,
    log_problem,
    log_recovered,
    quiet_refusals,
    stop_stream,
)
from strategy.venues.alpaca.timeouts import bound_requests, stream_params

log = logging.getLogger(__name__)
BAR_SEC = 60
SESSION_SEC = 6.5 * 3600
FEED_GAP = "feed-gap"


class BackfillTimeout(Exception):
    """The historical bars API did not answer within the feed's timeout."""


def same_session(prev_ts: float, ts: float) -> bool:
    """Both bars in one regular session (09:30-16:00 New York): minutes missing between them
    are a gap, not a night or a weekend."""
    opened = session_open(ts)
    return opened <= prev_ts and ts < opened + SESSION_SEC


class _ReconnectingDataStream(RefusalHook, StockDataStream):
    """alpaca-py's stream, with hooks: `on_subscribed` once the server confirms the
    subscription after every (re)connection, `on_refused` when it refuses our keys or our
    subscription."""

    on_subscribed: Callable[[], None] = staticmethod(lambda: None)

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        await super()._dispatch(msg)
        if msg.get("T") == "subscription":
            self.on_subscribed()


def _bar(symbol: str, ts: float, raw: Any) -> Bar:
    return Bar(
        symbol,
        ts,
        float(raw.open),
        float(raw.high),
        float(raw.low),
        float(raw.close),
        float(raw.volume),
    )


def bars_of(barset: Any) -> list[Bar]:
    """An alpaca-py BarSet as our bars, in time order across symbols."""
    return sorted(
        (
            _bar(symbol, raw.timestamp.timestamp(), raw)
            for symbol, rows in barset.data.items()
            for raw in rows
        ),
        key=lambda b: (b.ts, b.symbol),
    )


def _hhmm(ts: float) -> str:
    return datetime.fromtimestamp(ts, NEW_YORK).strftime("%H:%M")


class AlpacaFeed:
    def __init__(
        self,
        stream: StockDataStream,
        history: StockHistoricalDataClient,
        symbols: tuple[str, ...],
        clock: Clock,
        feed: DataFeed,
        in_session: Callable[[float, float], bool] = same_session,
        timeout_sec: float = 10.0,
    ) -> None:
        self._stream = stream
        self._history = history
        self._symbols = symbols
        self._clock = clock
        self._data_feed = feed
        self._in_session = in_session
        self._timeout = timeout_sec
        self._queue: asyncio.Queue[Bar] = asyncio.Queue()
        self._last: dict[str, float] = {}
        self._held: list[Bar] | None = None  # live bars waiting for a running backfill
        self._task: asyncio.Task[None] | None = None
        self._backfill_task: asyncio.Task[None] | None = None
        self._gap_reported = False
        self._refusals = Refusals(
            "feed-auth", "market-data", "ALPACA_API_KEY, ALPACA_SECRET_KEY and broker.data_feed"
        )
        self.on_problem: ProblemSink = log_problem
        self.on_recovered: RecoveredSink = log_recovered
        self.connections = 0
        self.backfilled = 0

    @classmethod
    def connect(
        cls,
        api_key: str,
        secret_key: str,
        symbols: tuple[str, ...],
        clock: Clock,
        data_feed: str,
        stream_url: str,
        data_url: str,
        in_session: Callable[[float, float], bool] = same_session,
        timeout_sec: float = 10.0,
    ) -> AlpacaFeed:
        feed = DataFeed.SIP if data_feed == "sip" else DataFeed.IEX
        stream = _ReconnectingDataStream(
            api_key,
            secret_key,
            feed=feed,
            url_override=stream_url or None,
            websocket_params=stream_params(timeout_sec),
        )
        history = StockHistoricalDataClient(api_key, secret_key, url_override=data_url or None)
        bound_requests(history, timeout_sec)
        return cls(stream, history, symbols, clock, feed, in_session, timeout_sec)

    @property
    def last_bar_ts(self) -> float | None:
        return max(self._last.values()) if self._last else None

    async def bars(self) -> AsyncIterator[Bar]:
        if self._task is None:
            self._start()
        while True:
            yield await self._queue.get()

    def _start(self) -> None:
        self._stream.subscribe_bars(self._on_bar, *self._symbols)
        if isinstance(self._stream, _ReconnectingDataStream):
            quiet_refusals("alpaca.data.live.websocket")
            self._stream.on_subscribed = self._on_subscribed
            self._stream.on_refused = self._on_refused
        self._task = asyncio.get_running_loop().create_task(
            run_forever(self._stream), name="alpaca-bars"
        )

    async def stop(self) -> None:
        if self._backfill_task is not None:
            self._backfill_task.cancel()
            await asyncio.gather(self._backfill_task, return_exceptions=True)
        if self._task is not None:
            await stop_stream(self._stream, self._task)

    # -- live bars -------------------------------------------------------------------------

    async def _on_bar(self, raw: Any) -> None:
        bar = _bar(raw.symbol, raw.timestamp.timestamp(), raw)
        if self._held is not None:
            self._held.append(bar)
            return
        prev = self._last.get(bar.symbol)
        if prev is not None and self._is_gap(prev, bar.ts):
            self._backfill_then_release((bar.symbol,), prev + BAR_SEC, bar.ts, held=[bar])
            return
        self._accept(bar)

    def _on_subscribed(self) -> None:
        """Subscribed (again): live bars flow, so what was missed before is backfilled now,
        up to the present; live bars wait for it."""
        self.connections += 1
        self._refusals.accepted("market-data stream", self.on_recovered)
        if self._last and self._held is None:
            start = min(self._last.get(s, self._clock.now()) for s in self._symbols) + BAR_SEC
            self._backfill_then_release(self._symbols, start, self._clock.now(), held=[])

    def _on_refused(self, cause: str) -> None:
        self._refusals.refused("market-data stream", cause, self.on_problem)

    def _is_gap(self, prev_ts: float, ts: float) -> bool:
        return ts - prev_ts > BAR_SEC and self._in_session(prev_ts, ts)

    def _accept(self, bar: Bar) -> bool:
        """Bars reach the engine once each and in time order per symbol."""
        if bar.ts <= self._last.get(bar.symbol, float("-inf")):
            return False
        self._last[bar.symbol] = bar.ts
        self._queue.put_nowait(bar)
        return True

    # -- backfill --------------------------------------------------------------------------

    def _backfill_then_release(
        self, symbols: Sequence[str], start: float, end: float, held: list[Bar]
    ) -> None:
        self._held = held
        self._backfill_task = asyncio.get_running_loop().create_task(
            self._fill(symbols, start, end), name="alpaca-backfill"
        )
        self._backfill_task.add_done_callback(self._backfill_done)

    def _backfill_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("backfill failed", exc_info=task.exception())
        if self._held is not None:  # never keep live bars waiting for a backfill that died
            self._release([], task.exception())  # type: ignore[arg-type]

    async def _fill(self, symbols: Sequence[str], start: float, end: float) -> None:
        missed: list[Bar] = []
        failure: Exception | None = None
        if start <= end:
            try:
                async with asyncio.timeout(self._timeout):  # the live bars are waiting
                    missed = await self._fetch(symbols, start, end)
            except (TimeoutError, requests.Timeout):
                failure = BackfillTimeout(
                    f"the historical bars API did not answer {', '.join(symbols)} "
                    f"{_hhmm(start)}-{_hhmm(end)} ET within {self._timeout:g} s"
                )
            except Exception as exc:  # any failure: what was missed is reported, not raised
                failure = exc
        self._release(missed, failure)

    async def _fetch(self, symbols: Sequence[str], start: float, end: float) -> list[Bar]:
        """The bars in [start, end] (paginated by alpaca-py)."""
        request = StockBarsRequest(
            symbol_or_symbols=list(symbols),
            timeframe=TimeFrame.Minute,
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(end, UTC),
            feed=self._data_feed,
        )
        try:
            result: Any = await asyncio.to_thread(self._history.get_stock_bars, request)
        except APIError as exc:
            if exc.status_code in (401, 403):
                self._refusals.refused("historical bars API", str(exc), self.on_problem)
            raise
        self._refusals.accepted("historical bars API", self.on_recovered)
        return bars_of(result)

    def _release(self, missed: list[Bar], failure: Exception | None) -> None:
        """Backfilled and held bars to the engine in time order, each once; a gap still
        there is an incident only when the backfill could not say what was in it."""
        held, self._held = self._held or [], None
        gaps: list[str] = []
        for bar, backfilled in sorted(
            [(b, True) for b in missed] + [(b, False) for b in held],
            key=lambda pair: (pair[0].ts, pair[0].symbol, pair[1]),  # live first: not counted
        ):
            prev = self._last.get(bar.symbol)
            if prev is not None and bar.ts > prev and self._is_gap(prev, bar.ts):
                gaps.append(f"{bar.symbol} {_hhmm(prev + BAR_SEC)}-{_hhmm(bar.ts - BAR_SEC)}")
            if self._accept(bar) and backfilled:
                self.backfilled += 1
        if failure is None:
            log.info("backfilled %d bars", len(missed))
            if gaps:  # Alpaca has no bars there either: minutes without trades
                log.info("no bars at Alpaca for %s", ", ".join(gaps))
            if self._gap_reported:
                self._gap_reported = False
                self.on_recovered(FEED_GAP, "market-data backfill works again")
        elif gaps:
            self._gap_reported = True
            self.on_problem(
                FEED_GAP,
                "warning",
                f"bars missing for {', '.join(gaps)} ET and the backfill failed "
                f"({type(failure).__name__}: {failure}); the strategy went on without them",
            )
        elif isinstance(failure, BackfillTimeout):  # whether bars were missed is unknown
            self._gap_reported = True
            self.on_problem(
                FEED_GAP, "warning", f"market-data backfill: {failure}; live bars went on"
            )
        else:
            log.warning(
                "backfill failed (%s: %s); no bar was missed", type(failure).__name__, failure
            )
