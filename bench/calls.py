"""Figure 3: broker REST calls per bar in steady state, counted at the loopback Alpaca.

Ours: the service on the real alpaca-py clients, bars arriving on the market-data websocket.
The article's design: its on_bar through alpaca-py's TradingClient (a position read per bar,
an account read per entry), bars handed in directly (its stream is not a REST call either)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from alpaca.trading.client import TradingClient

from bench.alpaca_rig import CASH, KEY, SECRET, alpaca_rig
from bench.article import ArticleStrategy
from bench.common import Figure, bar_stream, symbols
from strategy.types import Bar
from tests.fakes.alpaca import AlpacaFake
from tests.support import eventually

SYMBOLS = 5
BARS_PER_SYMBOL = 120

ORDER_PATHS = ("/v2/orders",)


def _recent(bars: list[Bar]) -> list[Bar]:
    """The same stream moved to end at the current minute, so no bar is stale."""
    shift = (time.time() // 60) * 60 - bars[-1].ts
    return [Bar(b.symbol, b.ts + shift, b.open, b.high, b.low, b.close, b.volume) for b in bars]


def _split(requests: list[tuple[str, str]]) -> tuple[int, int]:
    orders = sum(1 for method, path in requests if method == "POST" and path in ORDER_PATHS)
    return orders, len(requests) - orders


async def ours(names: tuple[str, ...], bars: list[Bar], folder: Path) -> tuple[int, int]:
    """(order calls, other calls) while the bars stream in, after start-up."""
    async with AlpacaFake(cash=CASH) as alpaca:
        rig = alpaca_rig(
            alpaca,
            names,
            folder,
            requests_per_min=10_000,
            # replayed minutes are hours old by wall clock: let them trade anyway
            **{"risk.stale_bar_sec": 86_400, "risk.reference_max_age_sec": 86_400},
        )
        service = rig.service
        await rig.broker.start()
        await service.start()
        await eventually(lambda: alpaca._subscribed == set(names), within=10)
        before = len(alpaca.requests)
        for bar in bars:
            await alpaca.push_bar(bar.symbol, bar.ts, bar.close)
        await eventually(lambda: service.engine.counters.bars == len(bars), within=30)
        await service.engine.drain()
        counted = _split(alpaca.requests[before:])
        await rig.stop()
        return counted


async def article(names: tuple[str, ...], bars: list[Bar]) -> tuple[int, int]:
    async with AlpacaFake(cash=CASH) as alpaca:
        client = TradingClient(KEY, SECRET, paper=True, url_override=alpaca.trading_url)
        strategy = ArticleStrategy(client, names)
        before = len(alpaca.requests)
        for bar in bars:
            alpaca.prices[bar.symbol] = bar.close
            await asyncio.to_thread(strategy.on_bar, bar)  # it blocks: keep the fake serving
        return _split(alpaca.requests[before:])


def measure() -> Figure:
    names = symbols(SYMBOLS)
    bars = _recent(bar_stream(names, BARS_PER_SYMBOL))
    print(f"  [3] {SYMBOLS} symbols x {BARS_PER_SYMBOL} bars through the loopback Alpaca")
    with tempfile.TemporaryDirectory() as folder:
        our_orders, our_other = asyncio.run(ours(names, bars, Path(folder)))
    their_orders, their_other = asyncio.run(article(names, bars))
    n = len(bars)
    print(f"      ours: {our_orders} order calls, {our_other} other calls")
    print(f"      article: {their_orders} order calls, {their_other} other calls")
    return Figure(
        3,
        "broker calls per bar (non-order)",
        f"{our_other / n:.3f} ({our_orders / n:.3f} orders)",
        f"{their_other / n:.3f} ({their_orders / n:.3f} orders)",
        f"{their_other} vs {our_other} calls",
        "0 per bar",
        our_other == 0,
    )
