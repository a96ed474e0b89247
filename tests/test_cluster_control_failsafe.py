"""The control plane fails safe, against a real nats-server with the real order manager
(`start_oms`) and a real strategy worker's control callback: orders in force apply before the
first intent, and only a resume record ends a kill or a pause (a deleted, purged or garbled key
keeps it, says so, and a restart does not forget it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from bot.oms_cli import RunningOms, start_oms
from ops.cluster.acks import await_acks
from ops.cluster.config import ClusterConfig, cluster_config
from ops.cluster.control import ControlPlane
from ops.cluster.control_requests import request_kill, request_pause
from ops.cluster.credentials import oms_user, worker_user
from ops.cluster.server import LocalNats
from ops.cluster.streams import ensure_streams
from ops.cluster.subjects import CONTROL_BUCKET
from ops.cluster.worker_setup import build_worker, follow_control
from ops.config.settings import load_settings
from ops.safety.resume_request import ResumeRequest, resume_file
from strategy.types import OrderStatus, TradingState
from tests.support import eventually
from tests.test_cluster_oms import (
    ACCOUNT,
    COID,
    STRATEGY,
    connect,
    entry,
    intents_done,
    oms_config,
    publish_intent,
    publish_mark,
    resume,
    statuses,
)


@pytest.mark.parametrize("order", ["kill", "pause"])
async def test_an_order_set_while_no_order_manager_ran_applies_before_its_first_intent(
    tmp_path: Path, nats_server: LocalNats, order: str
) -> None:
    """A kill (or a pause) written while no order manager ran, then an entry intent queued: the
    order manager started then refuses the intent (REJECTED) and sends nothing to the broker."""
    config = oms_config(tmp_path, nats_server)
    cfg = cluster_config(load_settings(config))
    nc, js = await connect(nats_server)
    try:
        await ensure_streams(js, cfg)  # as the gateway has done, long before
        if order == "kill":
            await request_kill(js, cfg, None, "U1", "while down")
        else:
            await request_pause(js, cfg, ACCOUNT, "U1", "while down")
        await publish_mark(js)
        await publish_intent(js, entry())
        running = await start_oms(ACCOUNT, config, nats_server.env(oms_user(ACCOUNT)))
        try:
            await eventually(lambda: intents_done(js), within=10)
            assert await statuses(js) == [OrderStatus.REJECTED]
            assert await running.service.broker.get_order(COID) is None
            expected = TradingState.HALTED if order == "kill" else TradingState.PAUSED
            assert running.service.gate.state is expected
        finally:
            await running.stop()
    finally:
        await nc.close()


async def test_a_purged_or_garbled_kill_key_keeps_the_kill_until_a_resume_record(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """kill.global purged, then garbled, from another client: the order manager stays HALTED
    with an incident naming what happened; restarted with the key deleted it comes back HALTED
    and says the key holds no resume; only the resume record (who, why) resumes it, journaled."""
    config = oms_config(tmp_path, nats_server)
    cfg = cluster_config(load_settings(config))
    nc, js = await connect(nats_server)
    running = await start_oms(ACCOUNT, config, nats_server.env(oms_user(ACCOUNT)))
    kv = await js.key_value(CONTROL_BUCKET)
    try:
        await request_kill(js, cfg, None, "U1", "test")
        await eventually(lambda: running.service.kill_switch.status().last is not None)
        await kv.purge("kill.global")
        await _synced(js, cfg)
        assert running.service.gate.state is TradingState.HALTED
        assert "kill.global was purged" in _incident(running, "kill.global")
        await kv.put("kill.global", b'{"active": false}')  # no who, when, why
        await _synced(js, cfg)
        assert running.service.gate.state is TradingState.HALTED
        assert "kill.global was unreadable" in _incident(running, "kill.global")
        await kv.delete("kill.global")
    finally:
        await running.stop()
    again = await start_oms(ACCOUNT, config, nats_server.env(oms_user(ACCOUNT)))
    try:
        assert again.service.gate.state is TradingState.HALTED
        assert "holds no resume record" in _incident(again, "kill.global")
        await resume(js, cfg, None, "U2", "all clear")
        await eventually(lambda: again.service.gate.state is TradingState.ACTIVE)
        assert "resumed by U2" in again.service.gate.state_reason
        assert "control:kill.global" not in again.service.open_alerts
    finally:
        await again.stop()
        await nc.close()
    assert "by U2: resumed by U2" in _resume_rows(tmp_path)


async def test_a_deleted_pause_key_keeps_the_pause(tmp_path: Path, nats_server: LocalNats) -> None:
    """pause.main deleted: the order manager stays PAUSED with an incident; the resume record
    lifts it."""
    config = oms_config(tmp_path, nats_server)
    cfg = cluster_config(load_settings(config))
    nc, js = await connect(nats_server)
    running = await start_oms(ACCOUNT, config, nats_server.env(oms_user(ACCOUNT)))
    kv = await js.key_value(CONTROL_BUCKET)
    try:
        await request_pause(js, cfg, ACCOUNT, "U1", "test")
        await eventually(lambda: running.service.gate.state is TradingState.PAUSED)
        await kv.delete(f"pause.{ACCOUNT}")
        await _synced(js, cfg)
        assert running.service.gate.state is TradingState.PAUSED
        assert f"pause.{ACCOUNT} was deleted" in _incident(running, f"pause.{ACCOUNT}")
        await resume(js, cfg, ACCOUNT, "U2", "all clear")
        await eventually(lambda: running.service.gate.state is TradingState.ACTIVE)
    finally:
        await running.stop()
        await nc.close()


async def test_a_worker_keeps_a_kill_whose_key_was_purged(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """A worker's control callback (as `tradebot worker` wires it) stays HALTED when
    kill.global is purged: a pause written after the purge is acknowledged, and the worker is
    still HALTED, not PAUSED."""
    config = oms_config(tmp_path, nats_server)
    settings = load_settings(config)
    cfg = cluster_config(settings)
    nc, js = await connect(nats_server)
    as_worker = await nats_server.connect(worker_user(STRATEGY))
    worker_js = as_worker.jetstream()
    worker = build_worker(worker_js, settings, cfg, STRATEGY, tuple(range(cfg.partitions)))
    control = ControlPlane(worker_js, cfg, "worker", "w", ACCOUNT)
    await control.start(follow_control(worker.gate, control))
    try:
        await request_kill(js, cfg, None, "U1", "test")
        await eventually(lambda: worker.engine.gate.state is TradingState.HALTED)
        await (await js.key_value(CONTROL_BUCKET)).purge("kill.global")
        paused = await request_pause(js, cfg, None, "U1", "after the purge")
        report = await await_acks(js, cfg, "pause.global", paused, within_sec=10)
        assert report.acked == ("worker.w",)
        assert worker.engine.gate.state is TradingState.HALTED
    finally:
        await control.stop()
        await as_worker.close()
        await nc.close()


async def _synced(js: JetStreamContext, cfg: ClusterConfig) -> None:
    """The order manager has applied everything written so far: a pause of the other scope's
    kind written now is acknowledged (each change is applied in order)."""
    kv: KeyValue = await js.key_value(CONTROL_BUCKET)
    marker = await kv.put(
        "pause.global", b'{"active": false, "requester": "T", "reason": "sync", "ts": 0}'
    )
    report = await await_acks(js, cfg, "pause.global", marker, within_sec=10)
    assert report.acked == (f"oms.{ACCOUNT}",)


def _incident(running: RunningOms, key: str) -> str:
    return running.service.open_alerts.get(f"control:{key}", "")


def _resume_rows(tmp_path: Path) -> str:
    journal = tmp_path / "journal.db"  # write_config's journal.path
    with sqlite3.connect(journal) as db:
        rows = db.execute("select detail from runs where event = 'resume'").fetchall()
    return " | ".join(r[0] for r in rows)


async def test_a_resume_request_file_does_not_lift_a_control_plane_kill(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """`tradebot resume` beside the order manager (its resume request file) while kill.global
    is in force: refused, saying the gateway's resume lifts it; the order manager stays
    HALTED."""
    config = oms_config(tmp_path, nats_server)
    cfg = cluster_config(load_settings(config))
    nc, js = await connect(nats_server)
    running = await start_oms(ACCOUNT, config, nats_server.env(oms_user(ACCOUNT)))
    try:
        await request_kill(js, cfg, None, "U1", "test")
        switch = running.service.kill_switch
        await eventually(lambda: switch.status().last is not None and not switch.running)
        request = resume_file(running.service.kill_file)
        request.write_text(ResumeRequest("ops").text())
        await eventually(lambda: switch.status().resume_requests == 1, within=10)
        assert running.service.gate.state is TradingState.HALTED
        assert "kill.global by U1 is in force" in switch.status().resume_result
    finally:
        await running.stop()
        await nc.close()
