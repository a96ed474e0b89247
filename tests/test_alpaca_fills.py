"""Every fill learned exactly once across trading-stream reconnects, slow replies and failed
re-reads: the real alpaca-py clients against the loopback Alpaca (issue 11, case 11)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import eventually
from tests.test_alpaca import Live, start_live, stop_live

BY_CLIENT_ID = "/v2/orders:by_client_order_id"


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    rig = await start_live(tmp_path)
    yield rig
    await stop_live(rig)


def journal_rows(live: Live, sql: str) -> list[dict[str, object]]:
    live.journal.flush()
    return [dict(row) for row in live.journal.query(sql)]


def book_matches_broker(live: Live) -> bool:
    position = live.service.book.position("SPY")
    held = live.alpaca.positions.get("SPY", (0, 0.0))[0]
    return position is not None and position.qty == held != 0


async def test_a_fill_while_the_stream_is_down_and_the_reply_late_is_learned_once(
    tmp_path: Path,
) -> None:
    """An order whose POST reply has not arrived is still re-read after a reconnect: its
    fill (lost with the stream) is learned then, and the late reply adds nothing."""
    live = await start_live(tmp_path, timeout_sec=30)  # the reply is late, not timed out
    try:
        await fill_while_down_reply_late(live)
    finally:
        await stop_live(live)


async def fill_while_down_reply_late(live: Live) -> None:
    live.alpaca.delay_fills = True
    live.alpaca.reply_as_placed = True
    live.alpaca.mute_trade_updates = True  # its "new" and "fill" events are lost
    live.alpaca.hold_order_replies()
    await live.drop_to_entry()
    await eventually(lambda: live.alpaca.orders)
    live.alpaca.fill_pending()
    live.alpaca.mute_trade_updates = False
    await live.alpaca.drop_trading_connections()
    await eventually(lambda: book_matches_broker(live), within=15)
    live.alpaca.release_order_replies()
    await live.service.engine.drain()  # the late reply has been applied
    assert not live.service.book.working_orders()
    assert len(journal_rows(live, "select * from fills")) == 1
    assert len(journal_rows(live, "select * from fills")) == 1
    assert journal_rows(live, "select * from anomalies") == []
    assert live.broker.working_order_ids == ()


async def test_a_reread_answered_429_is_retried_until_it_succeeds(live: Live) -> None:
    """The re-read after a reconnect gets a 429 twice; it is retried with backoff and the
    fill that happened while the stream was down is learned."""
    live.alpaca.delay_fills = True
    await live.drop_to_entry()
    await eventually(lambda: live.alpaca.orders)  # placed, not just decided
    live.alpaca.mute_trade_updates = True
    live.alpaca.fill_pending()
    live.alpaca.mute_trade_updates = False
    live.alpaca.fail_next("GET", BY_CLIENT_ID, 429, 42910000, times=2)
    await live.alpaca.drop_trading_connections()
    await eventually(lambda: book_matches_broker(live), within=15)
    assert live.alpaca.requests.count(("GET", BY_CLIENT_ID)) == 3
    assert len(journal_rows(live, "select * from fills")) == 1


async def test_a_stopped_order_stays_working_until_its_trade(live: Live) -> None:
    """Alpaca's `stopped` guarantees a trade that has not happened yet: the order stays
    working (nothing else is sent for its symbol) and its fill then finishes it, with no
    cancel in between and no anomaly."""
    live.alpaca.delay_fills = True
    await live.drop_to_entry()
    await eventually(lambda: live.alpaca.orders)  # placed, not yet filled
    live.alpaca.stop_pending()
    live.alpaca.fill_pending()
    await eventually(lambda: book_matches_broker(live))
    assert not live.service.book.working_orders()
    statuses = [r["status"] for r in journal_rows(live, "select status from order_updates")]
    assert statuses == ["accepted", "filled"]
    assert journal_rows(live, "select * from anomalies") == []


async def test_a_reply_after_the_final_event_does_not_resurrect_the_order(live: Live) -> None:
    """The stream reports the fill before the POST reply ("new") lands: the order stays
    filled, leaves the re-read set, and nothing is applied twice."""
    live.alpaca.reply_as_placed = True
    live.alpaca.hold_order_replies()
    await live.drop_to_entry()
    await eventually(lambda: book_matches_broker(live))
    live.alpaca.release_order_replies()
    await live.service.engine.drain()  # the late reply has been applied
    assert not live.service.book.working_orders()
    assert live.broker.working_order_ids == ()
    assert journal_rows(live, "select * from anomalies") == []
    assert len(journal_rows(live, "select * from fills")) == 1
    statuses = [r["status"] for r in journal_rows(live, "select status from order_updates")]
    assert "accepted" not in statuses[statuses.index("filled") :]
