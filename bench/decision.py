"""Figure 1: decision cost per bar. Our engine's whole per-bar path (book mark, O(1) stats,
signal, sizing, risk gate, order into the book, latency stamps) against the article's per-bar
feature code alone, on the same bars: one warm-up run of each, then runs interleaved (ours,
the article's, ours without signals, again...) so that a slow moment hits all of them."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import replace

from bench.article import ArticleFeatures
from bench.common import Figure, bar_stream, bare_engine, interleaved, symbols
from strategy.types import Bar

SYMBOLS = 100
BARS_PER_SYMBOL = 2_000
RUNS = 5
TARGET_RATIO = 20.0


def ours_us_per_bar(names: tuple[str, ...], bars: list[Bar], trade: bool = True) -> float:
    engine, clock, _ = bare_engine(names)
    if not trade:  # thresholds no z reaches: the path of a bar that produces no signal
        engine.set_params(replace(engine.params, entry_z=math.inf), apply_to_open=False)

    async def run() -> float:
        started = time.perf_counter()
        for i, bar in enumerate(bars):
            clock.set(bar.ts + 60)
            engine.on_bar(bar)
            if i % len(names) == 0:
                await asyncio.sleep(0)  # let order tasks run, as the feed does
        await engine.drain()
        return time.perf_counter() - started

    return asyncio.run(run()) / len(bars) * 1e6


def article_us_per_bar(names: tuple[str, ...], bars: list[Bar]) -> float:
    article = ArticleFeatures(names)
    started = time.perf_counter()
    for bar in bars:
        article.on_bar(bar)
    return (time.perf_counter() - started) / len(bars) * 1e6


def measure() -> Figure:
    names = symbols(SYMBOLS)
    bars = bar_stream(names, BARS_PER_SYMBOL)
    print(f"  [1] {SYMBOLS} symbols x {BARS_PER_SYMBOL} bars, median of {RUNS} interleaved runs")
    runs = {
        "ours": lambda: ours_us_per_bar(names, bars),
        "article": lambda: article_us_per_bar(names, bars),
        "quiet": lambda: ours_us_per_bar(names, bars, trade=False),
    }
    found = interleaved(runs, RUNS)
    ours, article, quiet = found["ours"], found["article"], found["quiet"]
    print(f"      ours on bars without a signal: {quiet:.2f} us/bar ({article / quiet:.1f}x)")
    ratio = article / ours
    return Figure(
        1,
        "decision cost per bar",
        f"{ours:.2f} us/bar",
        f"{article:.2f} us/bar (article features)",
        f"{ratio:.1f}x faster",
        f">= {TARGET_RATIO:.0f}x",
        ratio >= TARGET_RATIO,
    )
