"""Bounded memory and disk: final orders leave memory, slippage is streaming, the Slack alert
queue is bounded with a stated drop policy, one order_updates row per real change, equity
snapshots journaled on change."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import numpy as np

from bot.slack.alerts import AlertPoster
from ops.shared.results import KillReport, SlippageResult
from strategy import book as book_module
from strategy.book import Book
from strategy.clock import ManualClock
from strategy.recorder import MemoryRecorder
from strategy.slippage import SAMPLE_SIZE, SlippageSample, SlippageStats
from strategy.types import Intent, OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from strategy.venues import sim as sim_module
from strategy.venues.sim import SimBroker
from tests.support import SIM_SETTINGS, START, bar, eventually, make_harness
from tests.test_book import PARAMS, trade, update
from tests.test_commands import feed_bars_until, open_spy_position


def test_final_orders_leave_the_book_beyond_a_bound() -> None:
    """Finished orders leave the working set; only the last MAX_FINISHED stay readable."""
    book = Book(1e9, ManualClock(start=START), MemoryRecorder())
    n = book_module.MAX_FINISHED + 5
    for i in range(n):
        req = _market(f"b{i}", Side.BUY if i % 2 == 0 else Side.SELL)
        book.add_order(req, PARAMS)
        book.apply(update(req, OrderStatus.FILLED, 1, 100.0))
    assert book.working_orders() == []
    assert book.order("b4") is None  # gone from memory; the journal has it
    assert book.order("b5") is not None
    latest = book.order(f"b{n - 1}")
    assert latest is not None and latest.status is OrderStatus.FILLED


async def test_the_kill_report_reads_exit_prices_of_finished_flatten_orders(
    tmp_path: Path,
) -> None:
    """After a kill every order is final and out of the working set, and the report still
    has each exit's fill price and slippage."""
    h = make_harness(tmp_path, **{"kill.poll_sec": 0.01})
    qty = await open_spy_position(h)
    request = await h.run("kill")
    task = asyncio.create_task(h.core.confirm(request.nonce, "U1", "C1", "test"))
    await asyncio.sleep(0)  # HALTED before the next bar
    await feed_bars_until(h, task, 22)
    report = task.result()
    assert isinstance(report, KillReport) and report.flat
    (exit_,) = report.exits
    assert exit_.filled_qty == qty and exit_.avg_price is not None
    assert exit_.slippage_bps is not None
    assert h.service.book.working_orders() == []
    assert await h.broker.open_orders() == []


async def test_the_simulator_keeps_only_working_and_recent_final_orders() -> None:
    """SimBroker: a filled order leaves its working map; get_order still answers for recent
    ones, and the oldest beyond MAX_FINISHED are forgotten."""
    clock = ManualClock(start=START)
    broker = SimBroker(SIM_SETTINGS, clock)
    broker.on_bar(bar("SPY", 0, 100.0))
    n = sim_module.MAX_FINISHED + 3
    for i in range(n):
        await broker.submit(_market(f"s{i}", Side.BUY if i % 2 == 0 else Side.SELL))
        broker.on_bar(bar("SPY", i + 1, 100.0))
    assert await broker.open_orders() == []
    assert await broker.get_order("s0") is None
    last = await broker.get_order(f"s{n - 1}")
    assert last is not None and last.status is OrderStatus.FILLED
    again = await broker.submit(_market(f"s{n - 1}", Side.SELL))  # idempotent re-submit
    assert again.status is OrderStatus.FILLED


def _market(coid: str, side: Side) -> OrderRequest:
    return OrderRequest(
        coid, "SPY", side, 1, OrderType.MARKET, TimeInForce.DAY, None, 100.0, Intent.ENTRY, 0.0
    )


def test_slippage_statistics_equal_numpys_on_the_same_samples() -> None:
    """Streaming count/mean/std over every fill equal numpy's; the kept sample is the most
    recent SAMPLE_SIZE; a fill without a decision price is not a sample."""
    values = np.random.default_rng(5).normal(1.5, 3.0, SAMPLE_SIZE * 3)
    stats = SlippageStats()
    for i, v in enumerate(values):
        stats.add(SlippageSample("SPY", Side.BUY, float(v), 1, float(i)))
    stats.add(SlippageSample("SPY", Side.BUY, math.nan, 1, 0.0))
    assert stats.count == len(values)
    assert math.isclose(stats.mean, float(np.mean(values)), rel_tol=1e-12)
    assert math.isclose(stats.std, float(np.std(values)), rel_tol=1e-9)
    assert [s.bps for s in stats.recent] == [float(v) for v in values[-SAMPLE_SIZE:]]


async def test_trade_slippage_summarizes_every_fill_and_samples_the_recent(
    tmp_path: Path,
) -> None:
    """/trade slippage: count, mean and std over all fills, p95 (nearest rank) and the
    histogram over the bounded recent sample."""
    h = make_harness(tmp_path)
    book = h.service.book
    values = np.random.default_rng(9).normal(0.5, 2.0, SAMPLE_SIZE + 100)
    for v in values:
        book.slippage_stats.add(SlippageSample("SPY", Side.BUY, float(v), 1, 0.0))
    result = await h.run("slippage")
    assert isinstance(result, SlippageResult)
    recent = values[-SAMPLE_SIZE:]
    assert result.count == len(values)
    assert math.isclose(result.mean_bps, float(np.mean(values)), rel_tol=1e-12)
    assert math.isclose(result.std_bps, float(np.std(values)), rel_tol=1e-9)
    assert result.p95_bps == float(np.percentile(recent, 95, method="inverted_cdf"))
    assert len(result.samples_bps) == SAMPLE_SIZE


class _Slack:
    """chat_postMessage / chat_update that record what was posted."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self._serial = 0

    async def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
        self._serial += 1
        self.posts.append(kwargs)
        return {"ts": f"1.{self._serial}"}

    async def chat_update(self, **kwargs: Any) -> dict[str, Any]:
        self.posts.append(kwargs)
        return {"ok": True}


async def test_the_alert_queue_is_bounded_and_says_what_it_dropped() -> None:
    """While Slack is down the queue holds at most max_pending updates (plus one drop
    report): a newer update of an incident replaces an older queued one, then the oldest
    notice goes; drops are counted and told in the channel once Slack is back."""
    slack = _Slack()
    poster = AlertPoster(slack, "C-ALERTS", min_reply_interval=0.0, max_pending=5)
    poster.raise_alert("first", "warning", "head of the queue")
    poster.notice("notice 1")
    poster.raise_alert("feed", "warning", "gap 1")
    poster.raise_alert("drawdown", "critical", "dd 1")
    poster.notice("notice 2")
    poster.raise_alert("feed", "warning", "gap 2")  # full: the queued "gap 1" goes
    poster.raise_alert("latency", "warning", "slow")  # full: "notice 1" goes
    for i in range(10):
        poster.raise_alert("feed", "warning", f"gap {i + 3}")  # each replaces the last gap
    assert poster.dropped == 12
    assert poster.pending == 6  # 5 updates and the drop report
    task = asyncio.create_task(poster.run())
    try:
        await eventually(lambda: poster.pending == 0)
    finally:
        task.cancel()
    texts = [p["text"] for p in slack.posts]
    assert not any("gap 1`" in t or "notice 1" in t for t in texts)
    assert any("gap 12" in t for t in texts) and any("notice 2" in t for t in texts)
    assert any(t.startswith(":warning: 12 alert update(s) were not posted") for t in texts)


async def test_one_order_updates_row_per_real_change(tmp_path: Path) -> None:
    """The simulator both emits the ack and returns it: the journal has one accepted row per
    order, and a repeated update writes nothing."""
    h = make_harness(tmp_path)
    await open_spy_position(h)
    h.journal.flush()
    rows = h.journal.query(
        "select client_order_id, status, count(*) as n from order_updates "
        "group by client_order_id, status"
    )
    assert rows and all(r["n"] == 1 for r in rows)
    assert {r["status"] for r in rows} == {"accepted", "filled"}


def test_a_repeated_update_is_not_journaled() -> None:
    """Book.apply: the same status and filled quantity again changes nothing and writes no
    order_updates row; a change does."""
    recorder = MemoryRecorder()
    book = Book(100_000.0, ManualClock(start=START), recorder)
    req = _market("r1", Side.BUY)
    book.add_order(req, PARAMS)
    book.apply(update(req, OrderStatus.ACCEPTED, 0, None))
    book.apply(update(req, OrderStatus.ACCEPTED, 0, None))
    book.apply(update(req, OrderStatus.PARTIALLY_FILLED, 0, None))
    assert [r["status"] for r in recorder.of("order_updates")] == ["accepted", "partially_filled"]


def test_equity_is_journaled_when_it_changes_or_hourly() -> None:
    """A flat book writes one equity row an hour, not one a minute; a changed figure is
    written at once; the in-memory curve gets every snapshot."""
    recorder = MemoryRecorder()
    book = Book(100_000.0, ManualClock(start=START), recorder)
    for minute in range(121):
        book.snapshot_equity(START + 60 * minute)
    assert [r["ts"] for r in recorder.of("equity")] == [START, START + 3600, START + 7200]
    trade(book, Side.BUY, 10, 100.0, commission=1.0)
    book.snapshot_equity(START + 7260)
    assert recorder.of("equity")[-1]["cash"] == 100_000.0 - 1_001.0
    assert len(book.equity_curve) == 122
