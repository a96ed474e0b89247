"""What a strategy worker is told to do (WorkerSpec) and what its parts count (WorkerCounters)."""

from __future__ import annotations

from dataclasses import dataclass


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
