"""Latency percentiles per stage (nearest rank) and journaling in samples."""

from __future__ import annotations

import math

import pytest

from strategy.latency import LatencyTracker
from strategy.recorder import MemoryRecorder


def test_nearest_rank_percentiles_by_hand() -> None:
    """Samples 1..100 us: p50 = 50, p90 = 90, p99 = 99, max = 100."""
    tracker = LatencyTracker()
    for us in range(100, 0, -1):
        tracker.observe("features", us * 1000)
    stats = tracker.stats("features")
    assert (stats.p50_us, stats.p90_us, stats.p99_us, stats.max_us) == (50, 90, 99, 100)
    assert stats.count == 100


def test_the_window_keeps_only_the_latest_samples() -> None:
    """With a window of 4, old samples roll out; the count still grows."""
    tracker = LatencyTracker(window=4)
    for ns in (9000, 9000, 9000, 9000, 1000, 1000, 1000, 1000):
        tracker.observe("ack", ns)
    stats = tracker.stats("ack")
    assert stats.max_us == 1.0 and stats.count == 8


def test_samples_are_journaled_every_nth_observation() -> None:
    """sample_every=3 writes the 3rd and 6th observation."""
    recorder = MemoryRecorder()
    tracker = LatencyTracker(recorder=recorder, sample_every=3)
    for ns in range(1, 7):
        tracker.observe("decision", ns)
    assert [r["ns"] for r in recorder.of("latency")] == [3, 6]


def test_empty_and_unknown_stages() -> None:
    """No samples -> nan and left out of the summary; an unknown stage is an error."""
    tracker = LatencyTracker()
    assert math.isnan(tracker.stats("submit").p50_us)
    assert tracker.summary() == []
    with pytest.raises(ValueError, match="unknown latency stage"):
        tracker.observe("network", 1)
