"""OrderTracker: only news about an order is passed on, whatever order views arrive in."""

from __future__ import annotations

from strategy.types import Fill, OrderStatus, OrderUpdate, Side
from strategy.venues.alpaca.tracking import OrderTracker

S = OrderStatus


def view(status: OrderStatus, filled: int = 0, fill: bool = False) -> OrderUpdate:
    execution = Fill("o1", "SPY", Side.BUY, filled, 100.0, 0.0, 1.0) if fill else None
    return OrderUpdate("o1", "SPY", status, filled, 100.0 if filled else None, 1.0, execution)


def test_an_order_is_working_from_the_moment_it_is_sent() -> None:
    """Sent, nothing heard: it is re-read after a reconnect; not placed: forgotten."""
    tracker = OrderTracker()
    tracker.sent("o1")
    assert tracker.working() == ["o1"]
    tracker.not_placed("o1")
    assert tracker.working() == []


def test_older_views_and_repeats_are_not_news() -> None:
    """A re-read or reply older than (or equal to) what was passed on is dropped."""
    tracker = OrderTracker()
    tracker.sent("o1")
    assert tracker.news(view(S.ACCEPTED))
    assert tracker.news(view(S.PARTIALLY_FILLED, 5, fill=True))
    assert not tracker.news(view(S.ACCEPTED))
    assert not tracker.news(view(S.PARTIALLY_FILLED, 5, fill=True))
    assert tracker.news(view(S.FILLED, 10, fill=True))
    assert not tracker.news(view(S.FILLED, 10))


def test_a_final_order_never_becomes_working_again() -> None:
    """After its final event, a late reply or re-send does not put it back."""
    tracker = OrderTracker()
    tracker.sent("o1")
    assert tracker.news(view(S.FILLED, 10, fill=True))
    tracker.sent("o1")
    assert not tracker.news(view(S.ACCEPTED))
    assert tracker.working() == []


def test_a_stale_reply_returns_the_freshest_view_without_its_fill() -> None:
    """The caller applies a reply: if the stream said more, it gets that, fill stripped."""
    tracker = OrderTracker()
    tracker.sent("o1")
    tracker.news(view(S.FILLED, 10, fill=True))
    reply = tracker.reply(view(S.ACCEPTED))
    assert (reply.status, reply.filled_qty, reply.fill) == (S.FILLED, 10, None)
    fresh = view(S.ACCEPTED)
    other = OrderTracker()
    assert other.reply(fresh) is fresh
