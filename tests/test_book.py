"""The book: P&L and slippage arithmetic by hand, replay-safe fills, the order state machine."""

from __future__ import annotations

import pytest

from strategy.book import Book
from strategy.clock import ManualClock
from strategy.params import StrategyParams
from strategy.recorder import MemoryRecorder
from strategy.types import (
    Fill,
    Intent,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)

PARAMS = StrategyParams()
_serial = iter(range(1_000_000))


def request(side: Side, qty: int, decision: float = 100.0, symbol: str = "SPY") -> OrderRequest:
    return OrderRequest(
        f"o{next(_serial)}",
        symbol,
        side,
        qty,
        OrderType.MARKET,
        TimeInForce.IOC,
        None,
        decision,
        Intent.ENTRY,
        0.0,
    )


def update(
    req: OrderRequest, status: OrderStatus, cum: int, avg: float | None, fill: Fill | None = None
) -> OrderUpdate:
    return OrderUpdate(req.client_order_id, req.symbol, status, cum, avg, 1.0, fill)


def trade(book: Book, side: Side, qty: int, price: float, commission: float = 0.0) -> None:
    req = request(side, qty, decision=price)
    book.add_order(req, PARAMS)
    fill = Fill(req.client_order_id, req.symbol, side, qty, price, commission, 1.0)
    book.apply(update(req, OrderStatus.FILLED, qty, price, fill))


@pytest.fixture
def recorder() -> MemoryRecorder:
    return MemoryRecorder()


@pytest.fixture
def book(recorder: MemoryRecorder) -> Book:
    return Book(100_000.0, ManualClock(), recorder)


def test_average_cost_realized_pnl_and_a_flip_through_zero(book: Book) -> None:
    """buy 10@100, buy 10@110 -> avg 105; sell 15@120 -> +225; sell 10@90 -> -75, short 5@90."""
    trade(book, Side.BUY, 10, 100.0)
    trade(book, Side.BUY, 10, 110.0)
    position = book.position("SPY")
    assert position is not None and (position.qty, position.avg_price) == (20, 105.0)
    trade(book, Side.SELL, 15, 120.0)
    assert book.realized_pnl == 225.0  # (120 - 105) x 15
    position = book.position("SPY")
    assert position is not None and (position.qty, position.avg_price) == (5, 105.0)
    trade(book, Side.SELL, 10, 90.0)
    assert book.realized_pnl == 150.0  # 225 + (90 - 105) x 5
    position = book.position("SPY")
    assert position is not None and (position.qty, position.avg_price) == (-5, 90.0)


def test_cash_equity_commissions_and_unrealized_with_marks(book: Book) -> None:
    """Cash pays price and commission; equity = cash + qty x mark."""
    trade(book, Side.BUY, 10, 100.0, commission=0.05)
    assert book.cash == pytest.approx(100_000 - 1000 - 0.05)
    assert book.commissions == 0.05
    book.mark("SPY", 103.0, 2.0)
    assert book.unrealized_pnl() == pytest.approx(30.0)
    assert book.equity() == pytest.approx(100_000 - 0.05 + 30.0)
    assert book.gross_exposure() == pytest.approx(1030.0)


def test_slippage_is_positive_when_worse_for_both_sides(
    book: Book, recorder: MemoryRecorder
) -> None:
    """Buy above the decision price and sell below it are both positive bps."""
    buy = request(Side.BUY, 10, decision=100.0)
    book.add_order(buy, PARAMS)
    book.apply(update(buy, OrderStatus.FILLED, 10, 100.02))
    sell = request(Side.SELL, 10, decision=200.0)
    book.add_order(sell, PARAMS)
    book.apply(update(sell, OrderStatus.FILLED, 10, 199.96))
    assert [round(s.bps, 6) for s in book.slippage] == [2.0, 2.0]
    assert [round(float(r["slippage_bps"]), 6) for r in recorder.of("fills")] == [2.0, 2.0]


def test_partial_fills_replays_and_derived_prices(book: Book) -> None:
    """Fills come from cumulative qty: a replayed update adds nothing; a missing fill price is
    derived from the averages (3 @ 100 then 10 @ avg 101.4 -> 7 @ 102)."""
    req = request(Side.BUY, 10)
    book.add_order(req, PARAMS)
    book.apply(update(req, OrderStatus.ACCEPTED, 0, None))
    partial = update(req, OrderStatus.PARTIALLY_FILLED, 3, 100.0)
    book.apply(partial)
    book.apply(partial)  # the stream replays it after a reconnect
    assert book.position_qty("SPY") == 3 and book.fills_count == 1
    book.apply(update(req, OrderStatus.FILLED, 10, 101.4))
    position = book.position("SPY")
    assert position is not None and position.qty == 10
    assert position.avg_price == pytest.approx(101.4)
    assert book.slippage[-1].bps == pytest.approx(200.0)  # 102 vs 100 decision
    assert not book.has_working_order("SPY")


def test_an_illegal_transition_is_ignored_but_its_fill_is_kept(
    book: Book, recorder: MemoryRecorder
) -> None:
    """ACCEPTED arriving after FILLED keeps FILLED; a late CANCELED with more qty keeps the qty."""
    req = request(Side.BUY, 10)
    book.add_order(req, PARAMS)
    book.apply(update(req, OrderStatus.PARTIALLY_FILLED, 4, 100.0))
    book.apply(update(req, OrderStatus.ACCEPTED, 6, 100.0))
    order = book.order(req.client_order_id)
    assert order is not None and order.status is OrderStatus.PARTIALLY_FILLED
    assert order.filled_qty == 6 and book.position_qty("SPY") == 6
    assert [r["kind"] for r in recorder.of("anomalies")] == ["illegal_transition"]


def test_unknown_orders_are_recorded_as_anomalies(book: Book, recorder: MemoryRecorder) -> None:
    """An update for an order the book never placed changes nothing and is journaled."""
    stranger = request(Side.BUY, 5)
    book.apply(update(stranger, OrderStatus.FILLED, 5, 100.0))
    assert book.positions() == []
    assert recorder.of("anomalies")[0]["kind"] == "unknown_order"


def test_a_fill_that_beats_its_ack_is_applied_once_the_order_is_tracked(
    book: Book, recorder: MemoryRecorder
) -> None:
    """A close-all order can fill on the stream before the REST ack names it to us."""
    trade(book, Side.BUY, 10, 100.0)
    close = request(Side.SELL, 10, decision=101.0)
    fill = Fill(close.client_order_id, "SPY", Side.SELL, 10, 101.0, 0.0, 2.0)
    book.apply(update(close, OrderStatus.FILLED, 10, 101.0, fill))
    book.apply(update(close, OrderStatus.FILLED, 10, 101.0, fill))  # a replay: held, not doubled
    assert book.position("SPY") is not None
    book.track(close, update(close, OrderStatus.ACCEPTED, 0, None))
    assert book.position("SPY") is None
    assert book.realized_pnl == pytest.approx(10.0)
    assert book.order(close.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert len(recorder.of("anomalies")) == 1


def test_working_orders_are_tracked_per_symbol(book: Book) -> None:
    """A working order blocks its symbol until a final status arrives."""
    req = request(Side.BUY, 10)
    book.add_order(req, PARAMS)
    assert book.has_working_order("SPY") and not book.has_working_order("QQQ")
    book.apply(update(req, OrderStatus.CANCELED, 0, None))
    assert not book.has_working_order("SPY")
    book.apply(update(req, OrderStatus.CANCELED, 0, None))  # duplicate final: harmless
    assert book.working_orders() == []


def test_peak_and_drawdown(book: Book) -> None:
    """Drawdown is the fraction below the highest snapshot equity."""
    trade(book, Side.BUY, 100, 100.0)
    book.mark("SPY", 110.0, 1.0)
    book.snapshot_equity(1.0)
    assert book.peak_equity == pytest.approx(101_000.0)
    book.mark("SPY", 90.0, 2.0)
    assert book.drawdown() == pytest.approx(2_000 / 101_000)


def test_positions_keep_entry_params_until_applied(book: Book) -> None:
    """A position remembers the params of the order that opened it."""
    trade(book, Side.BUY, 10, 100.0)
    position = book.position("SPY")
    assert position is not None and position.entry_params is PARAMS
    newer = StrategyParams(exit_z=0.3)
    assert book.apply_params_to_open_positions(newer) == 1
    assert position.entry_params is newer
