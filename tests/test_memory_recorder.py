"""The in-memory recorder of tests and backtests."""

from __future__ import annotations

from strategy.recorder import MemoryRecorder


def test_a_memory_recorder_keeps_every_table_unless_told_which() -> None:
    """By default every row is kept; given tables, it keeps only theirs (a backtest's fills)."""
    every, fills_only = MemoryRecorder(), MemoryRecorder(tables=("fills",))
    for recorder in (every, fills_only):
        recorder.record("orders", {"qty": 1})
        recorder.record("fills", {"qty": 1})
    assert every.rows == {"orders": [{"qty": 1}], "fills": [{"qty": 1}]}
    assert fills_only.rows == {"fills": [{"qty": 1}]}
    assert fills_only.of("orders") == []
