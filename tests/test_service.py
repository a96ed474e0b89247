"""The running service: the kill switch file, state restored after a restart, task failures."""

from __future__ import annotations

from pathlib import Path

from strategy.types import TradingState
from strategy.venues.bars import synthetic_bars
from tests.support import START, eventually, make_harness


async def test_the_kill_file_halts_and_flattens_a_running_service(tmp_path: Path) -> None:
    """Touching the kill switch file takes the same path as /trade kill: HALTED and flat."""
    bars = synthetic_bars(("SPY", "QQQ", "IWM", "AAPL", "MSFT"), seed=3, start_ts=START)
    h = make_harness(tmp_path, bars=bars, **{"kill.poll_sec": 0.01})
    await h.service.start()
    await eventually(lambda: len(h.service.book.positions()) > 0)
    h.service.kill_file.touch()
    await eventually(lambda: h.service.gate.state is TradingState.HALTED)

    async def broker_flat() -> bool:
        return await h.broker.positions() == []

    await eventually(broker_flat)
    await h.service.stop()
    assert h.service.gate.state_reason == "kill by kill-switch-file"


async def test_a_halted_service_restarts_halted(tmp_path: Path) -> None:
    """The trading state is journaled; after a restart a kill still holds."""
    h = make_harness(tmp_path)
    h.service.set_state(TradingState.HALTED, "kill by U1", "U1")
    await h.service.start()
    await h.service.stop()
    again = make_harness(tmp_path)
    await again.service.start()
    assert again.service.gate.state is TradingState.HALTED
    assert "restored" in again.service.gate.state_reason
    await again.service.stop()
