"""Figure 3: broker REST calls per minute, at 5 and at 100 symbols, counted at the loopback
Alpaca through the real alpaca-py clients.

Ours: the jobs `tradebot run` schedules, each run for real with a position held in every
symbol (bench/job_calls.py); calls per minute = sum of calls per run x runs per minute. Bars
arrive on the websocket and cost no REST call: the second line checks it, counting the calls
made while 5 symbols x 120 bars stream in after start-up.
The article's design schedules nothing that reads the broker (its StrategyMonitor is fed by
on_bar), but its on_bar reads the position over REST on every bar past the lookback and the
account on every entry: with minute bars, one bar per symbol per minute. Its calls are counted
over MINUTES minutes past its lookback."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

from alpaca.trading.client import TradingClient

from bench.alpaca_rig import CASH, KEY, SECRET, alpaca_rig
from bench.article import ArticleStrategy
from bench.common import Figure, bar_stream, symbols
from bench.job_calls import JobCalls, job_calls
from strategy.types import Bar
from tests.fakes.alpaca import AlpacaFake
from tests.support import eventually

SIZES = (5, 100)
MINUTES = 20  # the article's minutes counted, past its lookback
LOOKBACK = 20
STREAM_SYMBOLS = 5
STREAM_BARS = 120
ALPACA_LIMIT_PER_MIN = 200  # Alpaca's documented REST rate limit per account

ORDER_PATHS = ("/v2/orders",)


def _recent(bars: list[Bar]) -> list[Bar]:
    """The same stream moved to end at the current minute, so no bar is stale."""
    shift = (time.time() // 60) * 60 - bars[-1].ts
    return [Bar(b.symbol, b.ts + shift, b.open, b.high, b.low, b.close, b.volume) for b in bars]


def _split(requests: list[tuple[str, str]]) -> tuple[int, int]:
    orders = sum(1 for method, path in requests if method == "POST" and path in ORDER_PATHS)
    return orders, len(requests) - orders


async def streamed(names: tuple[str, ...], bars: list[Bar], folder: Path) -> tuple[int, int]:
    """Ours: (order calls, other calls) while the bars stream in, after start-up."""
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
    """The article's (order calls, other calls) over the bars past its lookback."""
    async with AlpacaFake(cash=CASH) as alpaca:
        client = TradingClient(KEY, SECRET, paper=True, url_override=alpaca.trading_url)
        strategy = ArticleStrategy(client, names, LOOKBACK)
        warm = (LOOKBACK - 1) * len(names)  # bars before the first full window: no call
        before = 0
        for i, bar in enumerate(bars):
            if i == warm:
                before = len(alpaca.requests)
            alpaca.prices[bar.symbol] = bar.close
            await asyncio.to_thread(strategy.on_bar, bar)  # it blocks: keep the fake serving
        return _split(alpaca.requests[before:])


def _breakdown(jobs: list[JobCalls]) -> str:
    lines = []
    for job in jobs:
        made = ", ".join(f"{r} x{n}" if n > 1 else r for r, n in Counter(job.requests).items())
        lines.append(
            f"        {job.name:<16} {job.calls_per_run:g} per run x {job.runs_per_min:.4g}/min"
            f" = {job.per_min:.2f}/min{f'  ({made})' if made else ''}"
        )
    return "\n".join(lines)


def measure() -> Figure:
    ours: dict[int, float] = {}
    theirs: dict[int, tuple[float, float]] = {}
    print(f"  [3] scheduled jobs' REST calls per minute, a position in every symbol, {SIZES}")
    for size in SIZES:
        names = symbols(size)
        with tempfile.TemporaryDirectory() as folder:
            jobs = asyncio.run(job_calls(names, Path(folder)))
        ours[size] = sum(job.per_min for job in jobs)
        print(f"      ours at {size} symbols: {ours[size]:.2f} calls/min")
        print(_breakdown(jobs))
        bars = bar_stream(names, LOOKBACK - 1 + MINUTES)
        orders, other = asyncio.run(article(names, bars))
        theirs[size] = (other / MINUTES, orders / MINUTES)
        print(
            f"      article at {size} symbols: {other / MINUTES:.2f} calls/min"
            f" (+{orders / MINUTES:.2f} orders/min) over {MINUTES} minute bars per symbol"
        )
    stream_names = symbols(STREAM_SYMBOLS)
    bars = _recent(bar_stream(stream_names, STREAM_BARS))
    with tempfile.TemporaryDirectory() as folder:
        our_orders, our_other = asyncio.run(streamed(stream_names, bars, Path(folder)))
    n = len(bars)
    print(
        f"      per bar while {STREAM_SYMBOLS} symbols x {STREAM_BARS} bars stream: "
        f"{our_other / n:.3f} non-order calls ({our_orders / n:.3f} orders)"
    )
    low, high = SIZES
    print(f"      Alpaca's limit is {ALPACA_LIMIT_PER_MIN} requests/min per account")
    return Figure(
        3,
        "broker REST calls per minute (scheduled jobs)",
        f"{ours[low]:.1f} at {low} symbols, {ours[high]:.1f} at {high}",
        f"{theirs[low][0]:.1f} at {low}, {theirs[high][0]:.1f} at {high} "
        "(article: a position read per bar)",
        f"article / ours: {theirs[low][0] / ours[low]:.1f}x at {low}, "
        f"{theirs[high][0] / ours[high]:.0f}x at {high}",
        "same at 100 symbols as at 5; 0 per bar",
        ours[high] == ours[low] and our_other == 0,
    )
