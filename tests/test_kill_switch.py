"""One kill at a time: single flight, outcomes reported whatever started it, unique flatten ids,
close-all acks tracked, late fills flattened, the kill-switch incident and the resume file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from ops.safety.kill import KILL_PREFIX
from ops.safety.resume_request import resume_file
from strategy.types import (
    BrokerPosition,
    CloseAllResult,
    Intent,
    OrderRequest,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
    TradingState,
)
from strategy.venues.sim import SimBroker
from tests.support import Harness, bar, eventually, make_harness

PRICES = {"SPY": 100.0, "QQQ": 300.0}
FAST = {"kill.poll_sec": 0.01}


class Market:
    """Moves the simulated market one bar per call (flatten orders fill on the next bar)."""

    def __init__(self, h: Harness, minute: int = 0) -> None:
        self.h = h
        self.minute = minute

    async def step(self) -> None:
        await self.h.push(*(bar(s, self.minute, p) for s, p in PRICES.items()))
        self.minute += 1

    async def until(self, task: asyncio.Future[object]) -> None:
        while not task.done():
            await self.step()
            await asyncio.sleep(0.01)


async def enter(h: Harness, symbol: str, qty: int, tag: str = "") -> str:
    """An entry the book tracks, sent to the broker; it fills on the next bar."""
    request = OrderRequest(
        f"tb-{symbol}-{qty}{tag}",
        symbol,
        Side.BUY,
        qty,
        OrderType.MARKET,
        TimeInForce.DAY,
        None,
        PRICES[symbol],
        Intent.ENTRY,
        h.clock.now(),
    )
    h.service.book.add_order(request, None)
    await h.broker.submit(request)  # its ack reaches the book through the engine's listener
    return request.client_order_id


async def holding(h: Harness, market: Market, **qty: int) -> None:
    await market.step()
    for symbol, n in qty.items():
        await enter(h, symbol, n, tag=f"-{market.minute}")
    await market.step()
    assert {s: h.service.book.position_qty(s) for s in qty} == qty


def last_source(h: Harness) -> str:
    last = h.service.kill_switch.status().last
    return "" if last is None else last.source


def kill_rows(h: Harness) -> list[str]:
    h.journal.flush()
    return [str(r["detail"]) for r in h.journal.query("select detail from runs where event='kill'")]


class CountingBroker(SimBroker):
    """Records the most flatten orders working at once for one symbol."""

    most_flattening = 0

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        ack = await super().submit(order)
        if order.intent is Intent.FLATTEN:
            working = [
                o
                for o in await self.open_orders()
                if o.symbol == order.symbol and o.client_order_id.startswith(KILL_PREFIX)
            ]
            self.most_flattening = max(self.most_flattening, len(working))
        return ack


class MissesQQQOnce(SimBroker):
    """The first position read misses QQQ (its entry filled just after the read), and
    close-all orders fill at once, before the next read (as at a fast venue)."""

    reads = 0

    async def positions(self) -> list[BrokerPosition]:
        held = await super().positions()
        self.reads += 1
        return [p for p in held if p.symbol != "QQQ"] if self.reads == 1 else held

    async def close_all(self) -> CloseAllResult:
        result = await super().close_all()
        for ack in result.placed:
            self.on_bar(bar(ack.symbol, 0, PRICES[ack.symbol]))
        return result


async def test_two_concurrent_kills_share_one_flight_and_one_report(tmp_path: Path) -> None:
    """A second kill while one runs joins it: the same report, one journal row, no error."""
    h = make_harness(tmp_path, **FAST)
    market = Market(h)
    await holding(h, market, SPY=10)
    first = asyncio.create_task(h.service.kill("U1"))
    await asyncio.sleep(0)
    second = asyncio.create_task(h.service.kill("U2"))
    await market.until(asyncio.gather(first, second))
    assert first.result() is second.result()
    assert first.result().flat and first.result().user == "U1"
    assert len(kill_rows(h)) == 1
    assert h.service.kill_switch.status().requests == 2


async def test_keep_flattening_and_a_new_kill_are_one_flight(tmp_path: Path) -> None:
    """While keep-flattening retries a stubborn close, a new kill joins it: never two
    flatteners sending (and cancelling each other's) flatten orders for one symbol."""
    h = make_harness(tmp_path, **{**FAST, "kill.timeout_sec": 1})
    broker = h.swap_broker(CountingBroker)
    h.service.kill_switch.retry_sec = 0.01
    market = Market(h)
    await holding(h, market, SPY=10)
    first = await h.service.kill("U1")  # no bar comes: the close cannot fill in time
    assert not first.flat and "kill" in h.service.open_alerts
    await eventually(lambda: last_source(h) == "keep-flattening")
    assert h.service.kill_switch.running
    joined = asyncio.create_task(h.service.kill("U2"))
    broker.refuse_next_close("SPY", times=2)
    await market.until(joined)
    report = joined.result()
    assert report.flat and report.user == "U1"  # the keep-flattening flight's report
    assert broker.most_flattening == 1
    assert await broker.positions() == []
    await eventually(lambda: "kill" not in h.service.open_alerts)


async def test_flatten_ids_are_unique_across_kills_and_restarts(tmp_path: Path) -> None:
    """Two kills at the same market time, in two runs on one journal, never reuse an id."""
    for run in range(2):
        h = make_harness(tmp_path, **FAST)
        for attempt in range(2):
            market = Market(h, minute=10 * attempt)
            if attempt:  # trading again after the first kill, as an operator would
                h.service.set_state(TradingState.ACTIVE, "resumed by U1", "U1")
            await holding(h, market, SPY=10 + attempt)
            h.broker.refuse_next_close("SPY")  # so our own flatten order is sent
            kill = asyncio.create_task(h.service.kill(f"U{run}"))
            await market.until(kill)
            assert kill.result().flat
        await h.service.stop()
    with sqlite3.connect(tmp_path / "journal.db") as db:
        rows = db.execute(
            "select client_order_id from orders where client_order_id like ?", [f"{KILL_PREFIX}%"]
        ).fetchall()
    ids = [str(r[0]) for r in rows]
    assert len(ids) == 4 and len(set(ids)) == 4


async def test_a_close_all_ack_for_a_position_the_read_missed_is_tracked(tmp_path: Path) -> None:
    """QQQ missing from the first position read: its close-all order is still tracked, so its
    fill flattens the book too (no orphan fill, no position the book alone holds)."""
    h = make_harness(tmp_path, **FAST)
    h.swap_broker(MissesQQQOnce)
    market = Market(h)
    await holding(h, market, SPY=10, QQQ=5)
    kill = asyncio.create_task(h.service.kill("U1"))
    await market.until(kill)
    report = kill.result()
    assert report.flat and not report.errors
    assert {e.symbol: (e.qty_before, e.filled_qty) for e in report.exits} == {
        "SPY": (10, 10),
        "QQQ": (5, 5),
    }
    assert h.service.book.positions() == []
    assert await h.broker.positions() == []


class Sink:
    def __init__(self) -> None:
        self.notices: list[str] = []
        self.raised: list[tuple[str, str]] = []
        self.resolved: list[str] = []

    def raise_alert(self, key: str, severity: str, message: str) -> None:
        self.raised.append((key, message))

    def resolve_alert(self, key: str, message: str) -> None:
        self.resolved.append(key)

    def notice(self, message: str) -> None:
        self.notices.append(message)

    def acknowledge(self, key: str, user: str) -> None:
        pass


async def started(tmp_path: Path, **config: object) -> tuple[Harness, Sink]:
    h = make_harness(tmp_path, **{**FAST, **config})
    h.service.kill_switch.file_poll_sec = 0.01
    sink = Sink()
    h.service.add_alert_sink(sink)
    await h.service.start()
    return h, sink


async def test_the_watcher_survives_a_kill_file_while_a_kill_runs(tmp_path: Path) -> None:
    """The kill file appearing during a console kill joins it; the watcher lives on and a
    later kill file kills again."""
    h, _ = await started(tmp_path)
    market = Market(h)
    await holding(h, market, SPY=10)
    console = asyncio.create_task(h.service.kill("console"))
    h.service.kill_file.touch()
    await eventually(lambda: h.service.kill_switch.status().requests == 2)
    await market.until(console)
    h.service.kill_file.unlink()
    await eventually(lambda: "kill-switch" not in h.service.open_alerts)
    h.service.kill_file.touch()
    await eventually(lambda: len(kill_rows(h)) == 2)
    assert "kill-switch-file (kill file): flat=True" in kill_rows(h)[1]
    await h.service.stop()


async def test_a_file_kill_reports_its_outcome_and_its_incident_resolves(
    tmp_path: Path,
) -> None:
    """Kill file: the outcome reaches the log, the journal and Slack (incident thread and a
    notice); the kill-switch incident stays open while the file exists and resolves once it
    is cleared and the book is flat."""
    h, sink = await started(tmp_path)
    market = Market(h)
    await holding(h, market, SPY=10)
    h.service.kill_file.touch()
    await eventually(lambda: h.service.kill_switch.running)
    while h.service.kill_switch.running:
        await market.step()
        await asyncio.sleep(0.01)
    assert any("FLAT after" in n for n in sink.notices)
    assert any(k == "kill-switch" and "FLAT after" in m for k, m in sink.raised)
    assert "kill-switch-file (kill file): flat=True" in kill_rows(h)[0]
    assert "kill-switch" in h.service.open_alerts  # the file is still there
    h.service.kill_file.unlink()
    await eventually(lambda: "kill-switch" not in h.service.open_alerts)
    assert "kill-switch" in sink.resolved
    await h.service.stop()


async def test_a_late_fill_after_a_flat_kill_is_flattened_and_reported(tmp_path: Path) -> None:
    """An entry accepted after the kill's cancel-all fills while HALTED: it is flattened
    through the same single flight, and a notice says so."""
    h, sink = await started(tmp_path)
    market = Market(h)
    await holding(h, market, SPY=10)
    kill = asyncio.create_task(h.service.kill("U1"))
    await market.until(kill)
    assert kill.result().flat
    # its HTTP call was in flight during the kill: the engine's last check ran before the HALT
    h.broker.guard(lambda order: None)
    await enter(h, "QQQ", 4)
    await market.step()  # it fills: HALTED, so the kill switch flattens it
    await eventually(lambda: any("late fill after the kill" in n for n in sink.notices))
    while h.service.kill_switch.running or h.service.book.positions():
        await market.step()
        await asyncio.sleep(0.01)
    assert await h.broker.positions() == []
    assert "(late fill): flat=True" in kill_rows(h)[-1]
    assert h.service.gate.state is TradingState.HALTED
    await h.service.stop()


async def test_a_resume_request_is_refused_while_the_kill_file_exists(tmp_path: Path) -> None:
    """The resume file `tradebot resume` drops: refused (logged, journaled, removed) while the
    kill file exists; once it is gone, trading resumes under the requester's name."""
    h, _ = await started(tmp_path)
    h.service.set_state(TradingState.HALTED, "kill by U1", "U1")
    request = resume_file(h.service.kill_file)
    h.service.kill_file.touch()
    request.write_text("alice\n")
    await eventually(lambda: not request.exists())
    assert h.service.gate.state is TradingState.HALTED
    assert h.service.kill_switch.status().resume_result.startswith("refused")
    h.service.kill_file.unlink()
    await eventually(lambda: not h.service.kill_switch.running)  # the file's own kill is done
    request.write_text("alice\n")
    await eventually(lambda: h.service.gate.state is TradingState.ACTIVE)
    assert h.service.gate.state_reason == "resumed by alice (tradebot resume)"
    h.journal.flush()
    details = [
        str(r["detail"]) for r in h.journal.query("select detail from runs where event='resume'")
    ]
    assert details[0].startswith("by alice: refused: the kill switch file")
    assert details[1] == "by alice: resumed by alice: trading is ACTIVE"
    await h.service.stop()


async def test_resuming_while_flattening_retries_stops_them_and_closes_the_incident(
    tmp_path: Path,
) -> None:
    """An operator resumes during keep-flattening: the retries stop and the `kill` incident
    says why instead of staying open."""
    h = make_harness(tmp_path, **{**FAST, "kill.timeout_sec": 1})
    h.service.kill_switch.retry_sec = 0.01
    market = Market(h)
    await holding(h, market, SPY=10)
    assert not (await h.service.kill("U1")).flat  # no bar comes: the close cannot fill
    h.service.set_state(TradingState.ACTIVE, "resumed by U2", "U2")
    await eventually(
        lambda: "kill" not in h.service.open_alerts and not h.service.kill_switch.running
    )


async def test_a_kill_takes_foreign_holdings_in_so_the_book_ends_flat(tmp_path: Path) -> None:
    """Shares bought behind the book's back (held for the operator) are closed by the kill
    like the rest; the book takes them in first, so it ends flat with the broker's equity
    (less the operator's own P&L on them) instead of short what it never held."""
    h = make_harness(tmp_path, **FAST)
    market = Market(h)
    await holding(h, market, QQQ=4)
    await h.buy_behind_the_books_back("SPY", 7, PRICES["SPY"])
    await market.step()
    await h.run("reconcile")
    assert h.service.book.is_foreign("SPY")
    kill = asyncio.create_task(h.service.kill("U1"))
    await market.until(kill)
    assert kill.result().flat and await h.broker.positions() == []
    assert h.service.book.positions() == [] and not h.service.book.foreign()
    book = h.service.book
    assert book.equity() == pytest.approx((await h.broker.account()).equity - book.operator_pnl)


async def test_a_late_fill_after_a_restart_that_restored_the_halt_is_flattened(
    tmp_path: Path,
) -> None:
    """The HALT restored at start-up still guards: a fill of an entry sent before the crash is
    flattened through the single flight."""
    first = make_harness(tmp_path, **FAST)
    first.service.set_state(TradingState.HALTED, "kill by U1", "U1")
    first.journal.close()
    h, sink = await started(tmp_path)
    assert h.service.gate.state is TradingState.HALTED
    market = Market(h)
    await market.step()
    h.broker.guard(lambda order: None)  # sent by the previous process, before the HALT
    await enter(h, "QQQ", 4)
    await market.step()
    await eventually(lambda: any("late fill after the kill" in n for n in sink.notices))
    while h.service.kill_switch.running or h.service.book.positions():
        await market.step()
        await asyncio.sleep(0.01)
    assert await h.broker.positions() == []
    await h.service.stop()


async def test_a_halt_restored_with_positions_open_goes_on_flattening(tmp_path: Path) -> None:
    """A kill that had not finished at the stop (NOT FLAT, or the process died mid-flight):
    the next start restores HALTED and carries on flattening what the book still holds."""
    first = make_harness(tmp_path, **FAST)
    first.service.set_state(TradingState.HALTED, "kill by U1", "U1")
    first.journal.close()
    h = make_harness(tmp_path, **FAST)
    market = Market(h)
    await holding(h, market, SPY=10)  # what start-up recovery rebuilds in `tradebot run`
    sink = Sink()
    h.service.add_alert_sink(sink)
    await h.service.start()
    assert h.service.gate.state is TradingState.HALTED
    assert any("the kill carries on flattening" in n for n in sink.notices)
    await eventually(lambda: h.service.kill_switch.running)
    while h.service.kill_switch.running or h.service.book.positions():
        await market.step()
        await asyncio.sleep(0.01)
    assert await h.broker.positions() == []
    assert last_source(h) == "restart"
    assert "restart): flat=True" in kill_rows(h)[-1]
    assert h.service.gate.state is TradingState.HALTED
    await h.service.stop()


async def test_a_halt_restored_with_a_flat_book_sends_nothing(tmp_path: Path) -> None:
    """A kill that ended flat: the restored HALT holds and no kill runs again (it would cancel
    orders the operator placed at the broker meanwhile)."""
    first = make_harness(tmp_path, **FAST)
    first.service.set_state(TradingState.HALTED, "kill by U1", "U1")
    first.journal.close()
    h, _ = await started(tmp_path)
    assert h.service.gate.state is TradingState.HALTED
    assert h.service.kill_switch.status().requests == 0
    await h.service.stop()
