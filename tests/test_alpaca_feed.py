"""Bars never skipped around market-data reconnects and gaps: the real alpaca-py clients
against the loopback Alpaca (issue 11, case 9)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import eventually
from tests.test_alpaca import Live, start_live, stop_live

BARS = ("GET", "/v2/stocks/bars")


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    rig = await start_live(tmp_path, bars_back=40)
    yield rig
    await stop_live(rig)


def bars_seen(live: Live) -> int:
    return live.service.engine.counters.bars


async def test_a_bar_closing_during_the_reconnect_backfill_still_arrives_once(live: Live) -> None:
    """A bar published after the backfill read history but before live bars resumed is
    delivered (the subscription comes first and live bars wait for the backfill)."""
    await live.bars("SPY", [100.0] * 10)
    await eventually(lambda: bars_seen(live) == 10)
    reads = live.alpaca.requests.count(BARS)
    live.alpaca.hold_bars_requests()
    await live.alpaca.drop_data_connections()
    await eventually(lambda: live.alpaca.requests.count(BARS) == reads + 1, within=15)
    await live.bars("SPY", [100.1], first=10)  # history was read already
    live.alpaca.release_bars_requests()
    await live.bars("SPY", [100.2], first=11)
    await eventually(lambda: bars_seen(live) == 12)
    stats = live.service.engine.stats("SPY")
    assert stats is not None and stats.last_close == 100.2
    assert live.feed.backfilled == 0  # bar 10 came live, held until the backfill was done
    assert live.feed.last_bar_ts == live.base + 60 * 11


async def test_a_gap_between_live_bars_is_backfilled_in_order(live: Live) -> None:
    """Two minutes missing on the stream: the next bar triggers a backfill, and the engine
    gets the missing bars before it."""
    await live.bars("SPY", [100.0] * 10)
    await live.bars("SPY", [100.1, 100.2], first=10, live=False)
    await live.bars("SPY", [100.3], first=12)
    await eventually(lambda: bars_seen(live) == 13)
    assert live.feed.backfilled == 2
    stats = live.service.engine.stats("SPY")
    assert stats is not None and stats.last_close == 100.3


async def test_a_gap_the_backfill_cannot_fill_is_an_incident_until_backfill_works(
    live: Live,
) -> None:
    """The gap's backfill fails (500): a feed-gap incident naming the symbol and minutes, the
    live bar still goes on; the next successful backfill resolves it."""
    problems: list[tuple[str, str, str]] = []
    recovered: list[tuple[str, str]] = []
    live.feed.on_problem = lambda *a: problems.append(a)
    live.feed.on_recovered = lambda *a: recovered.append(a)
    await live.bars("SPY", [100.0] * 10)
    await eventually(lambda: bars_seen(live) == 10)
    live.alpaca.fail_next("GET", "/v2/stocks/bars", 500)
    await live.bars("SPY", [100.1], first=10, live=False)
    await live.bars("SPY", [100.2], first=11)
    await eventually(lambda: bars_seen(live) == 11)
    ((key, severity, message),) = problems
    assert (key, severity) == ("feed-gap", "warning")
    assert "SPY" in message and "backfill failed" in message
    assert recovered == []
    await live.bars("SPY", [100.3], first=12, live=False)
    await live.bars("SPY", [100.4], first=13)
    await eventually(lambda: bars_seen(live) == 13)
    assert [k for k, _ in recovered] == ["feed-gap"]
    assert len(problems) == 1


async def test_a_backfill_that_does_not_answer_is_an_incident_and_live_bars_go_on(
    tmp_path: Path,
) -> None:
    """The backfill after a reconnect gets no answer: once its timeout passes, a feed-gap
    incident says so and the six live bars that came meanwhile reach the engine while the
    request still hangs; the next backfill that answers resolves the incident."""
    live = await start_live(tmp_path, bars_back=40, backfill_timeout_sec=1.0)
    problems: list[tuple[str, str, str]] = []
    recovered: list[tuple[str, str]] = []
    live.feed.on_problem = lambda *a: problems.append(a)
    live.feed.on_recovered = lambda *a: recovered.append(a)
    try:
        await live.bars("SPY", [100.0] * 10)
        await eventually(lambda: bars_seen(live) == 10)
        reads = live.alpaca.requests.count(BARS)
        live.alpaca.hold_bars_requests()
        await live.alpaca.drop_data_connections()
        await eventually(lambda: live.alpaca.requests.count(BARS) == reads + 1, within=15)
        await live.bars("SPY", [100.1, 100.2, 100.3, 100.4, 100.5, 100.6], first=10)
        await eventually(lambda: bars_seen(live) == 16)
        assert live.alpaca.requests.count(BARS) == reads + 1  # unanswered, and not asked again
        ((key, severity, message),) = problems
        assert (key, severity) == ("feed-gap", "warning")
        assert "did not answer" in message and " ET within 1 s" in message  # New York time
        live.alpaca.release_bars_requests()
        await live.bars("SPY", [100.7], first=16, live=False)
        await live.bars("SPY", [100.8], first=17)  # a gap: backfilled, as the API answers again
        await eventually(lambda: bars_seen(live) == 18)
        assert [k for k, _ in recovered] == ["feed-gap"]
        stats = live.service.engine.stats("SPY")
        assert stats is not None and stats.last_close == 100.8
    finally:
        live.alpaca.release_bars_requests()
        await stop_live(live)


async def test_a_gap_whose_backfill_does_not_answer_is_named_and_bars_go_on(
    tmp_path: Path,
) -> None:
    """Two minutes missing on the stream and their backfill gets no answer: once its timeout
    passes, the bar that waited for it and the next ones reach the engine, and the feed-gap
    incident names the minutes it could not fill."""
    live = await start_live(tmp_path, bars_back=40, backfill_timeout_sec=1.0)
    problems: list[tuple[str, str, str]] = []
    live.feed.on_problem = lambda *a: problems.append(a)
    try:
        await live.bars("SPY", [100.0] * 10)
        await eventually(lambda: bars_seen(live) == 10)
        live.alpaca.hold_bars_requests()
        await live.bars("SPY", [100.1, 100.2], first=10, live=False)
        await live.bars("SPY", [100.3, 100.4], first=12)
        await eventually(lambda: bars_seen(live) == 12)
        ((key, severity, message),) = problems
        assert (key, severity) == ("feed-gap", "warning")
        assert "SPY" in message and "did not answer" in message and "within 1 s" in message
        stats = live.service.engine.stats("SPY")
        assert stats is not None and stats.last_close == 100.4
    finally:
        live.alpaca.release_bars_requests()
        await stop_live(live)
