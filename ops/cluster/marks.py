"""Bars from NATS as the order manager's feed; the workers decide, the order manager does not.

Every bar's close becomes its symbol's last price (`quote`: the risk gate's collar and the
simulated broker read it for any intent's symbol, a dict write each). Only the bars of the
symbols the order manager holds or has an order working for (`wanted`) go on as bars: they
mark the book (equity, exposure) and reach the observers (the simulator's fills). Each batch
also passes its first bar on when it has none of those, so the engine's market-time
housekeeping (its day boundary, equity curve and last-bar stamp) moves with every minute."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from ops.cluster.codec import CodecError, bar_of, decode_batch, quote_of
from ops.cluster.resume import OrderedFeed, Reconnects
from ops.cluster.subjects import BARS_STREAM
from strategy.book import Book
from strategy.types import Bar

log = logging.getLogger(__name__)
ALL_BARS = "md.bar.*"  # the batches md.bar.p{PP}, not an earlier version's md.bar.p{PP}.{SYM}


def _every_symbol(symbol: str) -> bool:
    return True


class NatsMarks:
    """A Feed: each partition's newest stored batch first, then every new one, in order (an
    OrderedFeed: resumed at once after a reconnection). `observers` see each bar passed on
    before the engine does; `quotes` see every bar's (symbol, close); `recorders` every bar
    (the recent sessions a `set` is previewed on)."""

    def __init__(
        self,
        js: JetStreamContext,
        bar_sec: int,
        observers: Sequence[Callable[[Bar], None]] = (),
        quotes: Sequence[Callable[[str, float], None]] = (),
        reconnects: Reconnects | None = None,
        recorders: Sequence[Callable[[Bar], None]] = (),
    ) -> None:
        self._js = js
        self._bar_sec = bar_sec
        self._observers = tuple(observers)
        self._quotes = tuple(quotes)
        self._recorders = tuple(recorders)
        self._reconnects = reconnects
        self._last_bar_ts: float | None = None
        self._arrived: asyncio.Queue[Msg] = asyncio.Queue()
        self._book: Book | None = None
        self._wanted: Callable[[str], bool] = _every_symbol
        self.bad = 0  # bodies that were not bar batches (logged, skipped)

    @property
    def last_bar_ts(self) -> float | None:
        return self._last_bar_ts

    def price(self, book: Book) -> None:
        """From now on every bar's close is the book's last price of its symbol, and only the
        bars of symbols the book holds or has working are passed on."""
        self._book = book

        def wanted(symbol: str) -> bool:
            return book.position(symbol) is not None or book.has_working_order(symbol)

        self._wanted = wanted

    async def bars(self) -> AsyncIterator[Bar]:
        feed = OrderedFeed(
            self._js,
            BARS_STREAM,
            [ALL_BARS],
            self._arrive,
            "marks",
            self._reconnects,
            newest_first=True,
        )
        await feed.start()
        try:
            while True:
                msg = await self._arrived.get()
                try:
                    ts, rows = decode_batch(msg.data)
                    passed = self._pass_on(ts, rows)
                except CodecError as exc:
                    self.bad += 1
                    log.warning("bars on %s skipped: %s", msg.subject, exc)
                    continue
                if not rows:
                    continue
                self._last_bar_ts = ts
                for bar in passed:
                    for observe in self._observers:
                        observe(bar)
                    yield bar
        finally:
            await feed.stop()

    def _pass_on(self, ts: float, rows: list[list[object]]) -> list[Bar]:
        """Quote every row; the bars to pass on (a Bar is built only for those)."""
        wanted, book, quotes, recorders = self._wanted, self._book, self._quotes, self._recorders
        bar_end = ts + self._bar_sec
        passed = []
        for row in rows:
            symbol, close = quote_of(row)
            if book is not None:
                book.mark(symbol, close, bar_end)
            for quote in quotes:
                quote(symbol, close)
            if recorders or wanted(symbol):
                bar = bar_of(ts, row)
                for record in recorders:
                    record(bar)
                if wanted(symbol):
                    passed.append(bar)
        if not passed and rows:
            passed.append(bar_of(ts, rows[0]))
        return passed

    async def _arrive(self, msg: Msg) -> None:
        self._arrived.put_nowait(msg)
