"""The monitor on the simulator and a manual market clock: each check, the dead-man, incidents
(ack, routing, restart), errors at the boundaries, reconciliation and adoption."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.account import watched_parts
from ops.backtest.reference import record
from ops.shared.results import CommandError, ConfirmRequest, Done, Level
from ops.watch.monitor import Monitor, latency, trade_flow
from ops.watch.scheduler import guarded
from strategy.params import StrategyParams
from strategy.types import (
    Account,
    Bar,
    TradingState,
)
from strategy.venue import BrokerUnavailable
from strategy.venues.sim import SimBroker
from strategy.venues.sim_feed import SimFeed
from tests.support import START, Harness, bar, eventually, make_harness
from tests.test_checklist import metrics
from tests.test_commands import open_spy_position
from tests.test_engine import CALM


class Unreachable(SimBroker):
    async def account(self) -> Account:
        raise BrokerUnavailable("connection refused")


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def raise_alert(self, key: str, severity: str, message: str) -> None:
        self.events.append(("raise", key, severity, message))

    def resolve_alert(self, key: str, message: str) -> None:
        self.events.append(("resolve", key, message))

    def notice(self, message: str) -> None:
        self.events.append(("notice", message))

    def acknowledge(self, key: str, user: str) -> None:
        self.events.append(("ack", key, user))


def levels(results: list) -> dict[str, Level]:
    return {r.key: r.level for r in results}


async def test_a_stale_feed_or_a_dead_broker_pauses_entries_until_healthy(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    monitor = Monitor(watched_parts(h.service))
    await h.push(bar("SPY", 0, 100.0))
    assert levels(await monitor.run())["feed-stale"] is Level.OK
    assert h.service.gate.state is TradingState.ACTIVE

    h.clock.advance(600)
    h.swap_broker(Unreachable)
    monitor = Monitor(watched_parts(h.service))  # composed with the broker now under it
    found = levels(await monitor.run())
    assert found["feed-stale"] is Level.CRITICAL and found["broker"] is Level.CRITICAL
    assert h.service.gate.state is TradingState.PAUSED
    assert "dead-man" in h.service.gate.state_reason
    assert {"feed-stale", "broker", "dead-man"} <= set(h.service.open_alerts)

    h.swap_broker(SimBroker)
    await h.push(bar("SPY", 11, 100.0))
    await Monitor(watched_parts(h.service)).run()
    assert h.service.gate.state is TradingState.ACTIVE
    assert not {"feed-stale", "broker", "dead-man"} & set(h.service.open_alerts)
    status = await h.run("status")
    assert {c.key for c in status.checks} >= {"feed-stale", "broker", "drawdown", "latency"}


async def test_the_dead_man_can_wait_for_an_operator_and_never_overrides_a_manual_pause(
    tmp_path: Path,
) -> None:
    h = make_harness(tmp_path, **{"monitoring.deadman_resume_needs_confirm": True})
    monitor = Monitor(watched_parts(h.service))
    await h.push(bar("SPY", 0, 100.0))
    h.clock.advance(600)
    await monitor.run()
    assert h.service.gate.state is TradingState.PAUSED
    await h.push(bar("SPY", 11, 100.0))
    await monitor.run()
    assert h.service.gate.state is TradingState.PAUSED
    assert "confirms `/trade resume`" in h.service.open_alerts["dead-man"]
    request = await h.run("resume")
    await h.core.confirm(request.nonce, "U1", "C1", "test")
    await monitor.run()
    assert h.service.gate.state is TradingState.ACTIVE and "dead-man" not in h.service.open_alerts

    await h.run("pause")
    await monitor.run()
    assert h.service.gate.state is TradingState.PAUSED  # a human's pause is not the dead-man's


async def test_trade_flow_alerts_on_too_many_orders_and_on_refused_signals(
    tmp_path: Path,
) -> None:
    h = make_harness(tmp_path, **{"monitoring.max_trades_per_day": 1})
    await open_spy_position(h)
    await h.push(bar("SPY", 22, 97.95))  # back to calm: the exit is a second order
    assert levels(trade_flow(watched_parts(h.service)))["trade-flow"] is Level.WARN

    (tmp_path / "quiet").mkdir()
    quiet = make_harness(tmp_path / "quiet", **{"risk.max_order_notional": 1})  # all refused
    await quiet.push(*(bar("SPY", i, c) for i, c in enumerate([*CALM, 98.0])))
    assert quiet.service.engine.counters.signals == 1 and quiet.service.engine.counters.orders == 0
    assert levels(trade_flow(watched_parts(quiet.service)))["no-trades"] is Level.OK
    quiet.clock.advance(5 * 3600)
    result = {r.key: r for r in trade_flow(watched_parts(quiet.service))}["no-trades"]
    assert result.level is Level.WARN and "1 signal(s)" in result.message


async def test_drawdown_alerts_then_reduces_and_uses_a_recorded_backtest(tmp_path: Path) -> None:
    """A warning above drawdown_alert_pct; at drawdown_halt_pct entries stop (REDUCING, exits
    still run); a recorded backtest moves the alert to 1.5x its max drawdown."""
    h = make_harness(
        tmp_path,
        **{"monitoring.drawdown_alert_pct": 0.01, "monitoring.drawdown_halt_pct": 0.05},
    )
    monitor = Monitor(watched_parts(h.service))
    qty = await open_spy_position(h)
    loss_per_share = 0.02 * 100_000 / qty  # a 2% drawdown
    h.service.book.mark("SPY", 97.95 - loss_per_share, h.clock.now())
    found = {r.key: r for r in await monitor.run()}
    assert (
        found["drawdown"].level is Level.WARN and "drawdown_alert_pct" in found["drawdown"].message
    )
    assert h.service.gate.state is not TradingState.HALTED

    h.service.book.mark("SPY", 97.95 - 3 * loss_per_share, h.clock.now())
    await monitor.run()
    assert h.service.gate.state is TradingState.REDUCING  # exits still run
    assert "hard limit" in h.service.open_alerts["drawdown"]
    await h.service.state_on_disk()  # the state's incident is raised once it is on disk
    assert "REDUCING" in h.service.open_alerts["trading-state"]

    record(h.journal, "reference", "csv:x", True, StrategyParams(), metrics(drawdown=0.004))
    h.journal.flush()
    h.service.book.mark("SPY", 97.95 - 0.4 * loss_per_share, h.clock.now())
    found = {r.key: r for r in await monitor.run()}
    assert found["drawdown"].level is Level.WARN
    assert "1.5x the backtest" in found["drawdown"].message


def test_latency_names_the_stage_that_dominates(tmp_path: Path) -> None:
    h = make_harness(tmp_path, **{"monitoring.latency_alert_ms": 100})
    assert latency(watched_parts(h.service)).level is Level.OK
    h.service.latency.observe("features", 2_000)
    h.service.latency.observe("submit", 1_500_000_000)
    result = latency(watched_parts(h.service))
    assert result.level is Level.WARN and "submit dominates" in result.message


async def test_a_broker_position_the_book_lacks_is_an_incident_until_adopted(
    tmp_path: Path,
) -> None:
    h = make_harness(tmp_path)
    monitor = Monitor(watched_parts(h.service))
    await h.push(bar("SPY", 0, 100.0))
    await h.buy_behind_the_books_back("SPY", 7, 100.0)
    await h.push(bar("SPY", 1, 100.0))
    assert (await monitor.reconcile()).level is Level.CRITICAL
    assert "SPY: book +0, broker +7" in h.service.open_alerts["reconcile:SPY"]

    for bad, says in [
        ("adopt", "usage: adopt"),
        ("adopt XYZ", "not a configured"),
        ("adopt QQQ", "already agree"),
    ]:
        with pytest.raises(CommandError, match=says):
            await h.run(bad)
    request = await h.run("adopt spy")
    assert isinstance(request, ConfirmRequest) and "book +0 -> broker +7" in request.title
    done = await h.core.confirm(request.nonce, "U1", "C1", "test")
    assert isinstance(done, Done)
    assert h.service.book.position_qty("SPY") == 7
    assert "reconcile:SPY" not in h.service.open_alerts
    assert (await monitor.reconcile()).level is Level.OK


async def test_a_failing_job_is_alerted_once_with_a_count_and_journaled(tmp_path: Path) -> None:
    h = make_harness(tmp_path, **{"monitoring.route_silent": ["error"]})
    sink = RecordingSink()
    h.service.add_alert_sink(sink)

    async def boom() -> None:
        raise RuntimeError("disk full")

    job = guarded(h.service.report_error, "boom", boom)
    await job()
    await job()
    key = "error:job-boom:RuntimeError"
    assert [e[:3] for e in sink.events] == [("raise", key, "info"), ("raise", key, "info")]
    assert h.service.open_alerts[key].endswith("(2 times so far)")
    h.journal.flush()
    rows = h.journal.query("select origin, count, traceback from errors order by id")
    assert [(r["origin"], r["count"]) for r in rows] == [("job-boom", 1), ("job-boom", 2)]
    assert "RuntimeError: disk full" in str(rows[0]["traceback"])


async def test_a_bar_that_breaks_the_engine_is_reported_and_trading_goes_on(
    tmp_path: Path,
) -> None:
    bars = [
        bar("SPY", 0, 100.0),
        Bar("SPY", START + 60, 100.0, 100.0, 0.0, 0.0, 1),
        bar("SPY", 2, 101.0),
    ]
    h = make_harness(tmp_path)
    h.service.feed = SimFeed(bars, h.clock, observers=[h.broker.on_bar])
    await h.service.start()
    await eventually(lambda: h.service.feed_ended)
    assert h.service.engine.counters.errors == 1 and h.service.engine.counters.bars == 3
    assert "error:engine-SPY:ValueError" in h.service.open_alerts
    await h.service.stop()


async def test_incidents_survive_a_restart_and_record_who_acknowledged(tmp_path: Path) -> None:
    h = make_harness(tmp_path, **{"monitoring.route_off": ["reconcile"]})
    sink = RecordingSink()
    h.service.add_alert_sink(sink)
    h.service.alert("feed-stale", "critical", "last bar is 400s old")
    h.service.alert("reconcile:SPY", "critical", "SPY: book +0, broker +7")
    assert [e[1] for e in sink.events] == ["feed-stale"]  # reconcile is routed off Slack
    done = await h.run("ack feed-stale")
    assert isinstance(done, Done) and sink.events[-1] == ("ack", "feed-stale", "U1")
    with pytest.raises(CommandError, match="no open incident 'nope'"):
        await h.run("ack nope")
    await h.service.start()
    await h.service.stop()

    again: Harness = make_harness(tmp_path)
    await again.service.start()
    assert set(again.service.open_alerts) == {"feed-stale", "reconcile:SPY"}
    status = await again.run("status")
    assert any(i.startswith("feed-stale") for i in status.open_incidents)
    done = await again.run("resolve reconcile:SPY")
    assert isinstance(done, Done) and set(again.service.open_alerts) == {"feed-stale"}
    with pytest.raises(CommandError, match="usage: resolve <incident>"):
        await again.run("resolve")
    await again.service.stop()
    again.journal.query("select 1")
    rows = again.journal.query(
        "select key, status, message from alerts where status = 'acknowledged'"
    )
    assert [(r["key"], r["message"]) for r in rows] == [("feed-stale", "acknowledged by U1")]
