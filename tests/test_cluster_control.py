"""The control plane against a real nats-server: kill and pause through the KV store, acks,
heartbeats and silent components."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client

from ops.cluster.acks import Component, ack_report, await_acks, read_components, silent_components
from ops.cluster.config import ClusterConfig, cluster_config
from ops.cluster.control import ControlPlane, ControlView
from ops.cluster.control_requests import request_kill, request_pause
from ops.cluster.server import LocalNats
from ops.cluster.subjects import kill_key, pause_key
from ops.config.settings import load_settings
from strategy.clock import ManualClock
from tests.support import eventually, write_config
from tests.test_cluster_oms import resume


def _cfg(tmp_path: Path, **values: object) -> ClusterConfig:
    values.setdefault("cluster.accounts", ["main", "other"])
    values.setdefault("cluster.strategies", ["MeanReversionV1:main", "Momentum:other"])
    return cluster_config(load_settings(write_config(tmp_path, **values)))


@pytest.fixture
async def nc(nats_server: LocalNats) -> AsyncIterator[Client]:
    client = await nats_server.connect()
    yield client
    await client.close()


class Obeying:
    """A role's side of the contract: apply the view, then acknowledge its revisions."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.views: list[ControlView] = []
        self.applied_at: dict[int, float] = {}

    async def __call__(self, view: ControlView) -> None:
        self.views.append(view)
        for revision in view.revisions:
            self.applied_at.setdefault(revision, time.monotonic())
        await self.plane.acknowledge(*view.revisions)


async def _obeying(
    nc: Client, cfg: ClusterConfig, key: str, account: str | None, at: float = 1000.0
) -> Obeying:
    role, name = key.split(".", 1)
    plane = ControlPlane(nc.jetstream(), cfg, role, name, account, ManualClock(start=at))
    obeying = Obeying(plane)
    await plane.start(obeying)
    return obeying


async def test_a_kill_is_acknowledged_by_every_watching_process_at_once(
    tmp_path: Path, nc: Client
) -> None:
    """kill.global reaches every watcher, each applies it and writes its ack at once (not at its
    next heartbeat: heartbeat_sec is a minute and the clocks stand still); the ack report counts
    them all. The real latency is printed for the report (asserting it would flake under load)."""
    cfg = _cfg(tmp_path, **{"cluster.heartbeat_sec": 60, "cluster.silent_after_sec": 600})
    js = nc.jetstream()
    keys = [
        ("worker.MeanReversionV1-p00-07", "main"),
        ("worker.MeanReversionV1-p08-15", "main"),
        ("worker.Momentum-p00-15", "other"),
        ("oms.main", "main"),
        ("oms.other", "other"),
    ]
    roles = [await _obeying(nc, cfg, key, account) for key, account in keys]
    sent = time.monotonic()
    revision = await request_kill(js, cfg, None, "U1", "test", ManualClock(start=1000.0))
    report = await await_acks(js, cfg, kill_key(), revision, within_sec=30, clock=ManualClock(1000))
    acked_in = time.monotonic() - sent
    assert sorted(report.acked) == sorted(k for k, _ in keys)
    assert report.complete and not report.silent and report.expected == 5
    for role in roles:
        killed = role.views[-1].killed
        assert killed is not None and killed.requester == "U1" and killed.revision == revision
    slowest = max(role.applied_at[revision] for role in roles) - sent
    print(
        f"\nkill applied by all 5 in {slowest * 1e3:.1f} ms, acks read in {acked_in * 1e3:.1f} ms"
    )
    for role in roles:
        await role.plane.stop()


async def test_an_account_kill_reaches_only_that_accounts_processes(
    tmp_path: Path, nc: Client
) -> None:
    """kill.other applies to the processes of account 'other' and is expected only of them."""
    cfg = _cfg(tmp_path)
    js = nc.jetstream()
    main = await _obeying(nc, cfg, "oms.main", "main")
    other = await _obeying(nc, cfg, "oms.other", "other")
    revision = await request_kill(js, cfg, "other", "U1", "only other")
    report = await await_acks(js, cfg, kill_key("other"), revision, within_sec=30)
    assert report.acked == ("oms.other",) and report.expected == 1
    assert other.views[-1].killed is not None
    assert all(view.killed is None for view in main.views)
    await main.plane.stop()
    await other.plane.stop()


async def test_a_process_started_after_a_kill_sees_it_before_start_returns(
    tmp_path: Path, nc: Client
) -> None:
    """The orders in force are handed over at start, so a restarted process is killed from its
    first moment; a resume lifts kill and pause with revisions of their own to acknowledge."""
    cfg = _cfg(tmp_path)
    js = nc.jetstream()
    await request_kill(js, cfg, None, "U1", "before")
    await request_pause(js, cfg, "main", "U2", "quiet")
    late = await _obeying(nc, cfg, "oms.main", "main")
    first = late.views[0]
    assert first.killed is not None and first.killed.reason == "before"
    assert first.paused is not None and first.paused.requester == "U2"
    lifted = await resume(js, cfg, None, "U1", "all clear")
    await eventually(lambda: late.views[-1].killed is None)
    assert late.views[-1].paused is not None  # pause.main is its own scope
    report = await await_acks(js, cfg, kill_key(), lifted[kill_key()], within_sec=30)
    assert report.acked == ("oms.main",)
    assert pause_key() in lifted
    await late.plane.stop()


async def test_a_silent_component_is_reported_and_named(tmp_path: Path, nc: Client) -> None:
    """A component whose heartbeat is older than silent_after_sec is named as silent, and a kill
    it cannot acknowledge says so instead of waiting for it."""
    cfg = _cfg(tmp_path, **{"cluster.heartbeat_sec": 1, "cluster.silent_after_sec": 5})
    js = nc.jetstream()
    clock = ManualClock(start=1000.0)
    dead = ControlPlane(js, cfg, "worker", "MeanReversionV1-p00-07", "main", clock)
    await dead.start(_ignore)  # heartbeats at t=1000, then its process "dies" (never acks)
    alive = await _obeying(nc, cfg, "oms.main", "main", at=1010.0)
    later = ManualClock(start=1010.0)
    components = await read_components(js, cfg)
    silent = silent_components(components, later.now(), cfg.silent_after_sec)
    assert [c.key for c in silent] == ["worker.MeanReversionV1-p00-07"]
    assert silent[0].age(later.now()) == 10.0
    revision = await request_kill(js, cfg, None, "U1", "test")
    report = await await_acks(js, cfg, kill_key(), revision, within_sec=30, clock=later)
    assert report.acked == ("oms.main",)
    assert report.silent == ("worker.MeanReversionV1-p00-07",)
    assert report.complete and report.expected == 2
    await alive.plane.stop()
    await dead.stop()


async def test_a_clean_stop_leaves_the_components_bucket(tmp_path: Path, nc: Client) -> None:
    """A stopped component is gone, not silent; a heartbeat-only one is never expected to ack."""
    cfg = _cfg(tmp_path)
    js = nc.jetstream()
    gateway = ControlPlane(js, cfg, "gateway", "slack", None)
    await gateway.start()
    oms = await _obeying(nc, cfg, "oms.main", "main")
    assert [c.key for c in await read_components(js, cfg)] == ["gateway.slack", "oms.main"]
    await oms.plane.stop()
    assert [c.key for c in await read_components(js, cfg)] == ["gateway.slack"]
    revision = await request_kill(js, cfg, None, "U1", "test")
    report = await await_acks(js, cfg, kill_key(), revision, within_sec=30)
    assert report.expected == 0 and report.complete
    await gateway.stop()


def test_ack_report_counts_the_scope_and_older_acks_do_not_count() -> None:
    """An ack of an earlier revision is not an ack of this one; other accounts are not
    expected."""

    def comp(key: str, account: str | None, acked: int, ts: float = 100.0) -> Component:
        role, name = key.split(".", 1)
        return Component(key, role, name, account, True, ts, {"kill.main": acked})

    components = [
        comp("oms.main", "main", 7),
        comp("worker.a", "main", 6),
        comp("worker.b", "main", 0, ts=10.0),
        comp("oms.other", "other", 0),
    ]
    report = ack_report(components, "kill.main", 7, now=100.0, silent_after_sec=5)
    assert (report.acked, report.pending, report.silent) == (
        ("oms.main",),
        ("worker.a",),
        ("worker.b",),
    )


async def _ignore(view: ControlView) -> None:
    """A process that watches and never acknowledges."""
