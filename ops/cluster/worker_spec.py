"""What a strategy worker is told to do (WorkerSpec), what its parts count (WorkerCounters), and
the durable consumer it reads a partition's bars through (bar_consumer)."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js.api import AckPolicy, ConsumerConfig


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    strategy: str
    account: str
    partitions: tuple[int, ...]
    ack_wait_sec: float
    bar_sec: int = 60
    batch: int = 500
    idle_fetch_sec: float = 1.0


@dataclass(slots=True)
class WorkerCounters:
    bars: int = 0  # decided
    stale: int = 0  # not newer than the last bar of their symbol: acked, dropped
    malformed: int = 0
    replayed_bars: int = 0
    restored_intents: int = 0
    restored_updates: int = 0
    updates: int = 0  # live order updates applied
    closed_by_kill: int = 0  # positions the account's kill closed
    idle_fetches: int = 0  # fetches that found no bar before their timeout


def bar_consumer(start: ConsumerConfig, ack_wait_sec: float) -> ConsumerConfig:
    """A worker's durable on a partition's bars, from where `start` says: every batch acked
    one by one, as many in flight as the partition has (the worker and the upgrade check
    both want exactly this)."""
    start.ack_policy = AckPolicy.EXPLICIT
    start.ack_wait = ack_wait_sec
    start.max_ack_pending = -1
    return start
