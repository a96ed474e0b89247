"""Figure 12's readings: processes' CPU, and what the streams say about when each bar,
intent and update was stored."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nats.js import JetStreamContext

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Burst:
    """One minute close published at once: seconds from its first bar published."""

    intents: int
    stored_sec: float  # to the last of its intents stored in INTENTS
    answered_sec: float  # to the order manager's first update of the last of them, stored


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a live process (Linux /proc); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def servers() -> list[tuple[str, int]]:
    """The nats-server this process started (a child of one of its threads)."""
    found = []
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            comm = Path(f"/proc/{pid}/comm")
            if comm.is_file() and comm.read_text().strip() == "nats-server":
                found.append(("nats-server", int(pid)))
    return found


def bar_key(symbol: str, bar_ts: float) -> str:
    return f"{symbol}:{int(bar_ts)}"


async def bar_times(js: JetStreamContext) -> dict[str, float]:
    """Each stored bar's server timestamp (its batch's) by {SYM}:{bar_ts}."""
    from ops.cluster.codec import decode_bars
    from ops.cluster.replay import read_stream
    from ops.cluster.subjects import BARS_STREAM

    stored: dict[str, float] = {}
    async for msg in read_stream(js, BARS_STREAM, ["md.bar.>"]):
        at = msg.metadata.timestamp.timestamp()
        for bar in decode_bars(msg.data):
            stored[bar_key(bar.symbol, bar.ts)] = at
    return stored


async def bursts_of(
    js: JetStreamContext, decided_at: list[float], published_at: list[float]
) -> list[Burst]:
    """Per burst (its intents' created_ts, when its first bar was published): the last of its
    intents stored, and the order manager's first update of the last of them."""
    from ops.cluster.codec import decode_intent, decode_updates
    from ops.cluster.replay import read_stream
    from ops.cluster.subjects import EXEC_STREAM, INTENTS_STREAM

    by_burst: dict[float, list[tuple[str, float]]] = {ts: [] for ts in decided_at}
    async for msg in read_stream(js, INTENTS_STREAM, ["intent.>"]):
        order, _ = decode_intent(msg.data)
        if order.created_ts in by_burst:
            by_burst[order.created_ts].append(
                (order.client_order_id, msg.metadata.timestamp.timestamp())
            )
    answered: dict[str, float] = {}
    async for msg in read_stream(js, EXEC_STREAM, ["exec.>"]):
        at = msg.metadata.timestamp.timestamp()
        for update in decode_updates(msg.data):
            answered.setdefault(update.client_order_id, at)
    bursts = []
    for ts, published in zip(decided_at, published_at, strict=True):
        found = by_burst[ts]
        stored = max((at for _, at in found), default=published)
        answer = max((answered.get(coid, float("inf")) for coid, _ in found), default=published)
        bursts.append(Burst(len(found), stored - published, answer - published))
    return bursts


async def intent_latencies(
    js: JetStreamContext, bars: dict[str, float], bar_sec: int
) -> tuple[list[float], int]:
    """Intent stored - its bar stored, in ms. An intent is created at its bar's end (the
    worker's clock), so its bar is (symbol, created_ts - bar_sec)."""
    from ops.cluster.codec import decode_intent
    from ops.cluster.replay import read_stream
    from ops.cluster.subjects import INTENTS_STREAM

    latencies: list[float] = []
    unmatched = 0
    async for msg in read_stream(js, INTENTS_STREAM, ["intent.>"]):
        order, _ = decode_intent(msg.data)
        bar_at = bars.get(bar_key(order.symbol, order.created_ts - bar_sec))
        if bar_at is None:
            unmatched += 1
            continue
        latencies.append((msg.metadata.timestamp.timestamp() - bar_at) * 1000)
    return latencies, unmatched


def journal_counts(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as db:
        orders = db.execute("select count(*) from orders").fetchone()[0]
        refusals = db.execute("select count(*) from refusals").fetchone()[0]
    return orders, refusals
