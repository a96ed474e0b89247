"""A nats-server restart (same port, same store) while the cluster runs: every role hears the
control plane, its exec feed and its marks again at once, and an outage ends no process. An
outage longer than the lease's TTL stops the order manager's sends until it renews; only
another holder's lease ends it. `tradebot cluster` starts its own server again when it dies.

The figures (server answering again -> kill acknowledged by every process, -> exec update
applied by a worker, -> mark taken by the order manager's feed) are printed; the bound each
waits with is a timeout well above the 2 s target and well below the 10-20 s nats-py took to
rebuild an ordered consumer by itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError, NotFoundError

from bot.oms_cli import start_oms
from ops.cluster.acks import await_acks, read_components
from ops.cluster.codec import encode_update, update_msg_id
from ops.cluster.config import ClusterConfig, cluster_config
from ops.cluster.connection import connect
from ops.cluster.control_requests import request_kill
from ops.cluster.credentials import ADMIN, INGEST, oms_user, worker_user
from ops.cluster.ingest import batches
from ops.cluster.marks import NatsMarks
from ops.cluster.permissions import password_variable
from ops.cluster.resume import Reconnects
from ops.cluster.server import LocalNats
from ops.cluster.streams import ensure_streams, leases_bucket
from ops.cluster.subjects import exec_subject, lease_key
from ops.cluster.worker_setup import build_worker
from ops.config.settings import load_settings
from strategy.types import Bar, OrderUpdate
from tests.support import eventually, spawn_tradebot, stop_tradebot, write_config
from tests.test_cluster_oms import ACCOUNT, STRATEGY, entry, oms_config, publish_intent

BACK_WITHIN_SEC = 6.0  # a timeout, not the target (2 s): before the fix it took 10-20 s
WORKERS = ("MeanReversionV1-p00-01", "MeanReversionV1-p02-03")


async def _restart(server: LocalNats) -> float:
    """Stopped and started again on its port and store; the moment it answers again."""
    await server.stop()
    return await _start(server)


async def _start(server: LocalNats) -> float:
    await server.start()
    return time.perf_counter()


async def _up(js: JetStreamContext, cfg: ClusterConfig, expected: set[str]) -> bool:
    return expected <= {c.key for c in await read_components(js, cfg)}


async def test_after_a_server_restart_a_kill_is_acknowledged_by_every_process_at_once(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """Real `tradebot oms`, two `tradebot worker` and a `tradebot ingest` (bars flowing) while
    the server restarts: a kill written as soon as it answers is acknowledged by the three that
    watch, and none of the four ended."""
    config = write_config(
        tmp_path, **{"cluster.nats_url": nats_server.url, "cluster.partitions": 4}
    )
    cfg = cluster_config(load_settings(config))
    roles = [
        ("oms", "--account", ACCOUNT),
        ("worker", "--strategy", STRATEGY, "--partitions", "0-1"),
        ("worker", "--strategy", STRATEGY, "--partitions", "2-3"),
        ("ingest", "--speed", "120"),
    ]
    users = [oms_user(ACCOUNT), worker_user(STRATEGY), worker_user(STRATEGY), INGEST]
    procs = [
        await spawn_tradebot(None, *r, "--config", str(config), **nats_server.env(user))
        for r, user in zip(roles, users, strict=True)
    ]
    expected = {f"oms.{ACCOUNT}", *(f"worker.{w}" for w in WORKERS)}
    try:
        nc = await nats_server.connect()
        await eventually(lambda: _up(nc.jetstream(), cfg, expected), within=60)
        await nc.close()

        answering = await _restart(nats_server)
        nc = await nats_server.connect()
        js = nc.jetstream()
        revision = await request_kill(js, cfg, None, "U1", "right after the restart")
        report = await await_acks(js, cfg, "kill.global", revision, within_sec=BACK_WITHIN_SEC)
        took = time.perf_counter() - answering
        await nc.close()
        print(f"server answering again -> kill acknowledged by {len(report.acked)}: {took:.2f} s")
        assert set(report.acked) == expected, report
        assert [p.returncode for p in procs] == [None, None, None, None]
    finally:
        outputs = await asyncio.gather(*(stop_tradebot(p) for p in procs))
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-3000:]


@contextlib.asynccontextmanager
async def _role_connection(
    server: LocalNats, cfg: ClusterConfig, user: str
) -> AsyncIterator[tuple[JetStreamContext, Reconnects]]:
    """A connection as a role makes it (ops.cluster.connection.connect), with its Reconnects."""
    reconnects = Reconnects()
    nc = await connect(cfg, server.env(user), "test-role", reconnects)
    try:
        yield nc.jetstream(), reconnects
    finally:
        await nc.close()


async def test_after_a_server_restart_a_worker_applies_an_exec_update_at_once(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """A worker built as `tradebot worker` builds it: an order update published just after the
    restart reaches its engine."""
    settings = load_settings(oms_config(tmp_path, nats_server, **{"cluster.partitions": 1}))
    cfg = cluster_config(settings)
    async with _role_connection(nats_server, cfg, worker_user(STRATEGY)) as (js, reconnects):
        await ensure_streams(js, cfg)
        worker = build_worker(js, settings, cfg, STRATEGY, (0,), 0.05, reconnects)
        await worker.restore()
        task = asyncio.create_task(worker.run())
        try:
            nc = await nats_server.connect()
            await _publish_update(nc.jetstream(), "tb-before")
            await eventually(lambda: worker.counters.updates == 1)
            await nc.close()

            answering = await _restart(nats_server)
            nc = await nats_server.connect()
            await _publish_update(nc.jetstream(), "tb-after")
            await eventually(lambda: worker.counters.updates == 2, within=BACK_WITHIN_SEC)
            took = time.perf_counter() - answering
            await nc.close()
            print(f"server answering again -> exec update applied by the worker: {took:.2f} s")
            assert not task.done()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _publish_update(js: JetStreamContext, coid: str) -> None:
    update = OrderUpdate.rejected(entry(coid), "test", time.time())
    await js.publish(
        exec_subject(ACCOUNT, STRATEGY, update.symbol),
        encode_update(update),
        headers={"Nats-Msg-Id": update_msg_id(update)},
    )


async def test_after_a_server_restart_the_order_managers_marks_resume_at_once(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The order manager's feed (NatsMarks, as `tradebot oms` builds it) takes a bar published
    just after the restart."""
    cfg = cluster_config(load_settings(oms_config(tmp_path, nats_server)))
    async with _role_connection(nats_server, cfg, oms_user(ACCOUNT)) as (js, reconnects):
        await ensure_streams(js, cfg)
        marks = NatsMarks(js, 60, reconnects=reconnects)
        taken: list[Bar] = []

        async def take() -> None:
            async for bar in marks.bars():
                taken.append(bar)

        task = asyncio.create_task(take())
        try:
            nc = await nats_server.connect()
            await _publish_bar(nc.jetstream(), 60.0)
            await eventually(lambda: len(taken) == 1)
            await nc.close()

            answering = await _restart(nats_server)
            nc = await nats_server.connect()
            await _publish_bar(nc.jetstream(), 120.0)
            await eventually(lambda: len(taken) == 2, within=BACK_WITHIN_SEC)
            took = time.perf_counter() - answering
            await nc.close()
            print(f"server answering again -> mark taken by the order manager: {took:.2f} s")
            assert [b.ts for b in taken] == [60.0, 120.0]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _publish_bar(js: JetStreamContext, ts: float) -> None:
    bar = Bar("SPY", ts, 500.0, 500.0, 500.0, 500.0, 1000)
    [batch] = batches([bar], 16)
    await js.publish(batch.subject, batch.data, headers=batch.headers)


async def test_an_outage_longer_than_the_lease_ttl_stops_sends_until_the_lease_is_renewed(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The server is down longer than the TTL (2 s): the order manager no longer holds the
    lease (it would send nothing; an incident says so), but does not end; once the server is
    back it holds the lease again, the incident resolves, and it takes the next intent."""
    running = await start_oms(
        ACCOUNT, oms_config(tmp_path, nats_server), nats_server.env(oms_user(ACCOUNT))
    )
    lease = running.oms.lease
    try:
        await nats_server.stop()
        await eventually(lambda: not lease.held, within=10)
        await eventually(lambda: f"lease:{ACCOUNT}" in running.service.open_alerts)
        await nats_server.start()
        await eventually(lambda: lease.held, within=15)
        assert not lease.lost.is_set()
        await eventually(lambda: f"lease:{ACCOUNT}" not in running.service.open_alerts)

        nc = await nats_server.connect()
        await publish_intent(nc.jetstream(), entry())
        await eventually(lambda: running.oms.taken == 1, within=15)
        await nc.close()
    finally:
        await running.stop()


async def test_a_lease_taken_by_another_holder_ends_the_order_manager_with_exit_2(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """While `tradebot oms` runs, another holder's key replaces its lease (what a standby does
    once a lapsed lease is gone): it exits 2 naming that holder."""
    config = oms_config(tmp_path, nats_server)
    cfg = cluster_config(load_settings(config))
    proc = await spawn_tradebot(
        None,
        "oms",
        "--account",
        ACCOUNT,
        "--config",
        str(config),
        **nats_server.env(oms_user(ACCOUNT)),
    )
    nc = await nats_server.connect()
    try:
        kv = await leases_bucket(nc.jetstream(), cfg)
        standby = json.dumps({"holder": "oms.main on standby-host (pid 7)"}).encode()

        async def taken_over() -> bool:
            try:
                entry = await kv.get(lease_key(ACCOUNT))
                await kv.update(lease_key(ACCOUNT), standby, last=entry.revision)
            except (NotFoundError, KeyWrongLastSequenceError):  # not yet, or renewed meanwhile
                return False
            return True

        await eventually(taken_over, within=30)
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        await nc.close()
        await stop_tradebot(proc)
    assert proc.returncode == 2, err.decode()[-3000:]
    assert "standby-host (pid 7)" in err.decode()


async def test_tradebot_cluster_starts_its_server_again_and_every_role_resumes(
    tmp_path: Path,
) -> None:
    """`tradebot cluster` whose nats-server is SIGKILLed: it starts it again on its port and
    store, no role ends, and a kill written then is acknowledged by every watching role."""
    config = write_config(tmp_path, **{"cluster.store_dir": str(tmp_path / "nats")})
    cfg = cluster_config(load_settings(config))
    admin = {password_variable(ADMIN): "admin-password-of-this-test"}
    proc = await spawn_tradebot(None, "cluster", "--config", str(config), "--speed", "60", **admin)
    assert proc.stdout is not None
    lines: list[str] = []

    async def read() -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            lines.append(line.decode(errors="replace"))

    reader = asyncio.create_task(read())
    expected = {f"oms.{ACCOUNT}", f"worker.{STRATEGY}-p00-07", f"worker.{STRATEGY}-p08-15"}
    try:
        await eventually(lambda: _said(lines, "[nats] JetStream on"), within=30)
        started = _said(lines, "[nats] JetStream on")
        url, pid = started.split()[3], int(started.split("(pid ")[1].split(")")[0])
        nc = await nats.connect(url, user=ADMIN, password=admin[password_variable(ADMIN)])
        await eventually(lambda: _up(nc.jetstream(), cfg, expected), within=60)
        await nc.close()

        os.kill(pid, signal.SIGKILL)
        await eventually(lambda: _said(lines, "again (pid"), within=30)
        answering = time.perf_counter()
        nc = await nats.connect(url, user=ADMIN, password=admin[password_variable(ADMIN)])
        js = nc.jetstream()
        revision = await request_kill(js, cfg, None, "U1", "after the server came back")
        report = await await_acks(js, cfg, "kill.global", revision, within_sec=BACK_WITHIN_SEC)
        took = time.perf_counter() - answering
        await nc.close()
        print(f"tradebot cluster, server started again -> kill acknowledged: {took:.2f} s")
        assert set(report.acked) == expected, report
        assert proc.returncode is None
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)
        await reader
    assert proc.returncode == 0, "".join(lines[-60:])
    assert _said(lines, "[cluster] stopped"), "".join(lines[-60:])  # no role ended it


def _said(lines: list[str], text: str) -> str:
    """The first line with this text, or ''."""
    return next((line for line in lines if text in line), "")


async def test_a_kill_right_after_an_outage_longer_than_silent_after_is_acknowledged(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The server was away longer than silent_after_sec, so every heartbeat in the bucket is
    old when it answers again: a kill written at once is not reported "0 acknowledged, all
    silent"; the order manager's acknowledgement, a moment later, is counted."""
    config = oms_config(tmp_path, nats_server, **{"cluster.silent_after_sec": 1.2})
    cfg = cluster_config(load_settings(config))
    running = await start_oms(ACCOUNT, config, nats_server.env(oms_user(ACCOUNT)))
    try:
        await nats_server.stop()
        await eventually(lambda: not running.oms.lease.held, within=10)  # > TTL (2 s) away
        answering = await _start(nats_server)
        nc = await nats_server.connect()
        js = nc.jetstream()
        revision = await request_kill(js, cfg, None, "U1", "after a long outage")
        report = await await_acks(js, cfg, "kill.global", revision, within_sec=BACK_WITHIN_SEC)
        took = time.perf_counter() - answering
        await nc.close()
        print(f"after a {cfg.lease_ttl_sec:g}+ s outage -> kill acknowledged: {took:.2f} s")
        assert report.acked == (f"oms.{ACCOUNT}",), report
    finally:
        await running.stop()
