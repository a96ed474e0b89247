"""One trading service per journal, whichever command starts it: a `tradebot run` and a
`tradebot oms` given one journal.path (real processes, a real nats-server) cannot both run on
it; the second exits 2 naming the first and writes nothing to the journal."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.request
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from ops.cluster.credentials import oms_user
from ops.cluster.server import LocalNats
from ops.cluster.subjects import INTENTS_STREAM, oms_consumer
from tests.support import eventually, free_port, spawn_tradebot, stop_tradebot, write_config

ACCOUNT = "main"


def shared_config(tmp_path: Path, server: LocalNats, health_port: int = 0) -> Path:
    """Both commands on the simulator and tmp_path/journal.db, named explicitly."""
    return write_config(
        tmp_path,
        **{
            "journal.path": str(tmp_path / "journal.db"),
            "cluster.nats_url": server.url,
            "cluster.lease_ttl_sec": 2,
            "monitoring.health_port": health_port,
        },
    )


def oms_args(config: Path) -> tuple[str, ...]:
    return ("oms", "--account", ACCOUNT, "--config", str(config))


def run_started(port: int) -> bool:
    """`tradebot run` answers on its health endpoint: it holds the journal."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
            return "state" in json.load(response)
    except OSError:
        return False


async def oms_started(js: JetStreamContext) -> bool:
    """`tradebot oms` takes intents: it holds the journal."""
    try:
        await js.consumer_info(INTENTS_STREAM, oms_consumer(ACCOUNT))
    except NotFoundError:
        return False
    return True


def starts_journaled(tmp_path: Path) -> int:
    with sqlite3.connect(f"file:{tmp_path / 'journal.db'}?mode=ro", uri=True) as db:
        return db.execute("select count(*) from runs where event = 'start'").fetchone()[0]


async def test_an_order_manager_is_refused_on_the_journal_a_service_runs_on(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """`tradebot run` first: `tradebot oms` on its journal exits 2 naming the service."""
    port = free_port()
    config = shared_config(tmp_path, nats_server, port)
    service = await spawn_tradebot(config)
    oms = None
    try:
        await eventually(lambda: asyncio.to_thread(run_started, port), within=30)
        oms = await spawn_tradebot(None, *oms_args(config), **nats_server.env(oms_user("main")))
        _out, err = await asyncio.wait_for(oms.communicate(), 60)
        assert oms.returncode == 2, err.decode()
        assert "already running on this journal" in err.decode()
        assert f"pid {service.pid} " in err.decode()
        assert starts_journaled(tmp_path) == 1
    finally:
        if oms is not None and oms.returncode is None:
            await stop_tradebot(oms)
        _out, service_err = await stop_tradebot(service)
    assert service.returncode == 0, service_err.decode()


async def test_a_service_is_refused_on_the_journal_an_order_manager_runs_on(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """`tradebot oms` first: `tradebot run` on its journal exits 2 naming the order manager."""
    config = shared_config(tmp_path, nats_server)
    nc = await nats_server.connect()
    js = nc.jetstream()
    oms = await spawn_tradebot(None, *oms_args(config), **nats_server.env(oms_user("main")))
    service = None
    try:
        await eventually(lambda: oms_started(js), within=30)
        service = await spawn_tradebot(config)
        _out, err = await asyncio.wait_for(service.communicate(), 60)
        assert service.returncode == 2, err.decode()
        assert "already running on this journal" in err.decode()
        assert f"pid {oms.pid} " in err.decode()
        assert starts_journaled(tmp_path) == 1
    finally:
        if service is not None and service.returncode is None:
            await stop_tradebot(service)
        _out, oms_err = await stop_tradebot(oms)
        await nc.close()
    assert oms.returncode == 0, oms_err.decode()
