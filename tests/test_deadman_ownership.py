"""The dead-man lifts only its own pause: an operator who pauses over it takes the pause, and
it stays theirs when the feed and the broker are healthy again, and after a restart."""

from __future__ import annotations

from pathlib import Path

from bot.account import watched_parts
from ops.shared.results import Done
from ops.watch.monitor import Monitor
from strategy.types import TradingState
from strategy.venues.sim import SimBroker
from tests.support import Harness, bar, make_harness
from tests.test_monitor import Unreachable


async def paused_by_the_deadman(h: Harness) -> None:
    """A stale feed and an unreachable broker: the dead-man pauses entries."""
    await h.push(bar("SPY", 0, 100.0))
    h.clock.advance(600)
    h.swap_broker(Unreachable)
    await Monitor(watched_parts(h.service)).run()
    assert h.service.gate.state is TradingState.PAUSED and "dead-man" in h.service.open_alerts


async def healthy_again(h: Harness) -> None:
    """The broker back, a fresh bar: the monitor (composed with that broker) runs again."""
    h.swap_broker(SimBroker)
    await h.push(bar("SPY", 11, 100.0))
    await Monitor(watched_parts(h.service)).run()


def state_rows(h: Harness) -> list[tuple[object, object]]:
    h.journal.flush()
    rows = h.journal.query("select state, user from state_changes order by id")
    return [(r["state"], r["user"]) for r in rows]


async def test_an_operator_pause_over_the_deadmans_is_the_operators(tmp_path: Path) -> None:
    """`pause` while the dead-man has paused entries is not refused as "already PAUSED": it
    takes the pause (journaled as the operator's), and once healthy the dead-man resolves its
    incident but leaves trading PAUSED."""
    h = make_harness(tmp_path)
    await paused_by_the_deadman(h)
    reply = await h.run("pause", user="U7")
    assert isinstance(reply, Done) and "now U7's" in reply.title
    assert h.service.gate.state is TradingState.PAUSED
    assert h.service.gate.state_reason == "paused by U7"
    assert state_rows(h)[-2:] == [("PAUSED", "monitor"), ("PAUSED", "U7")]
    await healthy_again(h)
    assert h.service.gate.state is TradingState.PAUSED
    assert "dead-man" not in h.service.open_alerts
    assert state_rows(h)[-1] == ("PAUSED", "U7")


async def test_a_taken_pause_stays_the_operators_after_a_restart(tmp_path: Path) -> None:
    """Restarted with the operator's pause (taken from the dead-man) in the journal: healthy
    checks do not resume it. The dead-man's own pause, restored, it still lifts."""
    h = make_harness(tmp_path)
    await paused_by_the_deadman(h)
    await h.run("pause", user="U7")
    await h.service.start()
    await h.service.stop()
    again = make_harness(tmp_path)
    await again.service.start()
    try:
        await healthy_again(again)
        assert again.service.gate.state is TradingState.PAUSED
    finally:
        await again.service.stop()

    (tmp_path / "own").mkdir()
    own = make_harness(tmp_path / "own")
    await paused_by_the_deadman(own)
    await own.service.start()
    await own.service.stop()
    restored = make_harness(tmp_path / "own")
    await restored.service.start()
    try:
        await healthy_again(restored)
        assert restored.service.gate.state is TradingState.ACTIVE
    finally:
        await restored.service.stop()
