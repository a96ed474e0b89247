"""Alpaca minute bars: StockDataStream driven as a task on our loop (its run() would call
asyncio.run), with gaps after a reconnect backfilled over REST before live bars resume."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from alpaca.data.enums import DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.stock import StockDataStream
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame

from strategy.clock import Clock
from strategy.types import Bar
from strategy.venues.alpaca.streams import stop_stream

log = logging.getLogger(__name__)
BAR_SEC = 60


class _ReconnectingDataStream(StockDataStream):
    """alpaca-py's stream with a hook awaited after every (re)connection and subscription,
    before consumption resumes: the place to backfill a gap in order."""

    on_connected: Callable[[], Any] | None = None

    async def _start_ws(self) -> None:
        await super()._start_ws()
        if self.on_connected is not None:
            await self.on_connected()


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


class AlpacaFeed:
    def __init__(
        self,
        stream: StockDataStream,
        history: StockHistoricalDataClient,
        symbols: tuple[str, ...],
        clock: Clock,
        feed: DataFeed,
    ) -> None:
        self._stream = stream
        self._history = history
        self._symbols = symbols
        self._clock = clock
        self._data_feed = feed
        self._queue: asyncio.Queue[Bar] = asyncio.Queue()
        self._last: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
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
    ) -> AlpacaFeed:
        feed = DataFeed.SIP if data_feed == "sip" else DataFeed.IEX
        stream = _ReconnectingDataStream(
            api_key, secret_key, feed=feed, url_override=stream_url or None
        )
        history = StockHistoricalDataClient(api_key, secret_key, url_override=data_url or None)
        return cls(stream, history, symbols, clock, feed)

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
            self._stream.on_connected = self._on_connected
        self._task = asyncio.get_running_loop().create_task(
            self._stream._run_forever(), name="alpaca-bars"
        )

    async def stop(self) -> None:
        if self._task is not None:
            await stop_stream(self._stream, self._task)

    def _accept(self, bar: Bar) -> None:
        """Bars reach the engine once each and in time order per symbol."""
        if bar.ts <= self._last.get(bar.symbol, float("-inf")):
            return
        self._last[bar.symbol] = bar.ts
        self._queue.put_nowait(bar)

    async def _on_bar(self, raw: Any) -> None:
        self._accept(_bar(raw.symbol, raw.timestamp.timestamp(), raw))

    async def _on_connected(self) -> None:
        if self._last:
            await self.backfill()
        self.connections += 1

    async def backfill(self) -> None:
        """Fetch the bars missed since each symbol's last bar (paginated by alpaca-py)."""
        start = min(self._last.get(s, self._clock.now()) for s in self._symbols) + BAR_SEC
        end = self._clock.now()
        if end <= start:
            return
        request = StockBarsRequest(
            symbol_or_symbols=list(self._symbols),
            timeframe=TimeFrame.Minute,
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(end, UTC),
            feed=self._data_feed,
        )
        try:
            result: Any = await asyncio.to_thread(self._history.get_stock_bars, request)
        except Exception as exc:
            log.warning("backfill after reconnect failed: %s", exc)
            return
        missed = bars_of(result)
        for bar in missed:
            before = self._queue.qsize()
            self._accept(bar)
            self.backfilled += self._queue.qsize() - before
        log.info("backfilled %d bars after a market-data reconnect", len(missed))
