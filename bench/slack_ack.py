"""Figure 4: how fast `/trade status` is acked over Socket Mode (the real slack_bolt client
against the loopback Slack) while the engine ingests 10,000 bars/s, against the same with
the engine idle."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import START, Figure, bar_stream, percentile, symbols
from bot.slack.surface import SlackSurface
from strategy.types import Bar
from strategy.venues.sim_feed import SimFeed
from tests.fakes.slack import SlackFake
from tests.support import make_harness

SYMBOLS = 100
BARS_PER_SEC = 10_000
COMMANDS = 200
GAP_SEC = 0.02
TARGET_P99_MS = 50.0


async def ack_latencies(folder: Path, bars: list[Bar]) -> tuple[list[float], float]:
    """(ack latencies in ms, bars/s ingested meanwhile)."""
    names = symbols(SYMBOLS)
    async with SlackFake() as slack:
        h = make_harness(
            folder,
            **{
                "strategy.symbols": list(names),
                "slack.api_url": slack.api_url,
                "slack.operators": ["U1"],
                "slack.channel": "C1",
            },
        )
        h.clock.set(START)
        speed = BARS_PER_SEC / SYMBOLS * 60  # market seconds per real second
        h.service.feed = SimFeed(bars, h.clock, observers=[h.broker.on_bar], speed=speed)
        surface = SlackSurface(h.core, "xoxb-bench", "xapp-bench")
        await surface.start()
        await slack.wait_connected(1)
        await h.service.start()
        await asyncio.sleep(0.5)  # past the first lookback
        first_bars, started = h.service.engine.counters.bars, time.perf_counter()
        for _ in range(COMMANDS):
            envelope = await slack.send_slash_command("status", user_id="U1", channel_id="C1")
            await envelope.acked()
            await asyncio.sleep(GAP_SEC)
        rate = (h.service.engine.counters.bars - first_bars) / (time.perf_counter() - started)
        await surface.stop()
        await h.service.stop()
        return [s * 1e3 for s in slack.ack_latencies], rate


def measure() -> Figure:
    names = symbols(SYMBOLS)
    minutes = int(BARS_PER_SEC / SYMBOLS * (COMMANDS * GAP_SEC * 2 + 5))
    bars = bar_stream(names, minutes)
    print(f"  [4] {COMMANDS} x /trade status, {SYMBOLS} symbols fed at {BARS_PER_SEC:,} bars/s")
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "loaded").mkdir()
        (Path(folder) / "idle").mkdir()
        loaded, rate = asyncio.run(ack_latencies(Path(folder) / "loaded", bars))
        idle, _ = asyncio.run(ack_latencies(Path(folder) / "idle", []))
    p50, p99 = statistics.median(loaded), percentile(loaded, 0.99)
    idle_p50, idle_p99 = statistics.median(idle), percentile(idle, 0.99)
    print(f"      engine ingested {rate:,.0f} bars/s while the commands ran")
    return Figure(
        4,
        "Slack ack under load",
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        f"idle p50 {idle_p50:.1f} ms, p99 {idle_p99:.1f} ms",
        f"p99 {p99 / idle_p99:.1f}x idle",
        f"p99 < {TARGET_P99_MS:.0f} ms",
        p99 < TARGET_P99_MS,
    )
