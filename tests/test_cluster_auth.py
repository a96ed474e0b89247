"""NATS locked down: nothing connects without a user, and each role's user may publish only
what that role publishes (a real nats-server with the permissions `tradebot cluster` uses)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from ops.cluster.acks import await_acks, read_components, read_orders
from ops.cluster.codec import encode_intent
from ops.cluster.config import ClusterConfig, cluster_config
from ops.cluster.control_requests import request_kill
from ops.cluster.credentials import GATEWAY, INGEST, oms_user, worker_user
from ops.cluster.permissions import API
from ops.cluster.server import LocalNats
from ops.cluster.streams import control_bucket, ensure_streams, leases_bucket
from ops.cluster.subjects import (
    BARS_STREAM,
    COMPONENTS_BUCKET,
    CONTROL_BUCKET,
    EXEC_STREAM,
    GATEWAY_INCIDENTS,
    INCIDENTS_STREAM,
    INTENTS_STREAM,
    LEASES_BUCKET,
    PARAMS_BUCKET,
    bar_subject,
    intent_subject,
    kill_key,
)
from ops.config.settings import load_settings
from strategy.types import Intent, OrderRequest, OrderType, Side, TimeInForce
from tests.support import eventually, spawn_tradebot, stop_tradebot, write_config

KILL = f"$KV.{CONTROL_BUCKET}.{kill_key()}"


def _cfg(tmp_path: Path, server: LocalNats) -> ClusterConfig:
    values = {
        "cluster.nats_url": server.url,
        "cluster.accounts": ["main", "other"],
        "cluster.strategies": ["MeanReversionV1:main", "Twin:main", "Momentum:other"],
    }
    return cluster_config(load_settings(write_config(tmp_path, **values)))


def _forged_buy() -> bytes:
    """An intent in the workers' own format: what a forger copies."""
    order = OrderRequest(
        client_order_id="tb-SPY-1767364200-forged",
        symbol="SPY",
        side=Side.BUY,
        qty=100,
        type=OrderType.LIMIT,
        tif=TimeInForce.DAY,
        limit_price=500.0,
        decision_price=500.0,
        intent=Intent.ENTRY,
        created_ts=time.time(),
    )
    return encode_intent(order, "MeanReversionV1")


@pytest.fixture
async def admin(nats_server: LocalNats) -> AsyncIterator[JetStreamContext]:
    client = await nats_server.connect()
    yield client.jetstream()
    await client.close()


async def _killed(tmp_path: Path, server: LocalNats, js: JetStreamContext) -> int:
    """As the admin: the streams and buckets, and a kill in force (its revision)."""
    cfg = _cfg(tmp_path, server)
    await ensure_streams(js, cfg)
    await leases_bucket(js, cfg)
    return await request_kill(js, cfg, None, "U1", "kill before the forgeries")


async def _untouched(js: JetStreamContext, kill_revision: int) -> None:
    """The kill still in force at its revision, and no intent, execution, bar or lease stored."""
    control = await js.key_value(CONTROL_BUCKET)
    entry = await control.get(kill_key())
    assert entry.revision == kill_revision
    assert entry.value is not None and json.loads(entry.value)["active"] is True
    for stream in (INTENTS_STREAM, EXEC_STREAM, BARS_STREAM, f"KV_{LEASES_BUCKET}"):
        assert (await js.stream_info(stream)).state.messages == 0, stream


async def test_a_client_without_credentials_can_neither_publish_an_intent_nor_touch_a_bucket(
    tmp_path: Path, nats_server: LocalNats, admin: JetStreamContext
) -> None:
    """A forger who speaks the protocol by hand: a buy in the intents' format, a purge of the
    kill and a lease written, all without a user. The server refuses the connection and
    stores none of it."""
    revision = await _killed(tmp_path, nats_server, admin)
    reader, writer = await asyncio.open_connection("127.0.0.1", nats_server.port)
    buy = _forged_buy()
    purge = b"NATS/1.0\r\nKV-Operation: PURGE\r\nNats-Rollup: sub\r\n\r\n"
    lease = b'{"holder": "forger"}'
    writer.write(
        b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
        + f"PUB {intent_subject('main', 'MeanReversionV1', 'SPY')} {len(buy)}\r\n".encode()
        + buy
        + b"\r\n"
        + f"HPUB {KILL} {len(purge)} {len(purge)}\r\n".encode()
        + purge
        + b"\r\n"
        + f"PUB $KV.{LEASES_BUCKET}.oms.main {len(lease)}\r\n".encode()
        + lease
        + b"\r\nPING\r\n"
    )
    await writer.drain()
    answer = await asyncio.wait_for(_until_answered(reader), 10)
    writer.close()
    assert b"-ERR 'Authorization Violation'" in answer
    assert b"PONG" not in answer
    await _untouched(admin, revision)


async def _until_answered(reader: asyncio.StreamReader) -> bytes:
    """What the server said up to its PONG (it took everything) or its -ERR."""
    answer = b""
    while b"PONG" not in answer and b"-ERR" not in answer:
        line = await reader.readline()
        if not line:
            break
        answer += line
    return answer


class Refusals:
    """The server's permission violations, as nats-py reports them to error_cb."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    async def record(self, exc: Exception) -> None:
        self.messages.append(str(exc).lower())

    def of(self, subject: str) -> bool:
        return any(f'publish to "{subject.lower()}"' in m for m in self.messages)


# per user: subjects it must not publish to (what another role, or nobody, publishes)
FORBIDDEN = {
    worker_user("MeanReversionV1"): [
        KILL,  # a kill lifted by a worker
        intent_subject("main", "Twin", "SPY"),  # another strategy's intent
        intent_subject("other", "Momentum", "SPY"),  # another account's
        f"$KV.{LEASES_BUCKET}.oms.main",  # the order manager's lease
        f"$KV.{COMPONENTS_BUCKET}.oms.main",  # the order manager's heartbeat and acks
        "exec.main.MeanReversionV1.SPY",  # a fill the broker never made
        f"{API}.CONSUMER.DELETE.{INTENTS_STREAM}.oms-main",
        f"{API}.CONSUMER.MSG.NEXT.{INTENTS_STREAM}.oms-main",  # taking intents meant for it
        f"{API}.STREAM.PURGE.{INTENTS_STREAM}",
        f"{API}.STREAM.DELETE.KV_{CONTROL_BUCKET}",
        f"$KV.{PARAMS_BUCKET}.params.main",  # only the order manager writes its parameters
        "incident.main.oms.main",  # an incident in the order manager's name
        f"{API}.CONSUMER.MSG.NEXT.{INCIDENTS_STREAM}.{GATEWAY_INCIDENTS}",
    ],
    oms_user("main"): [
        KILL,
        intent_subject("main", "MeanReversionV1", "SPY"),  # an intent no worker decided
        "exec.other.Momentum.SPY",  # another account's executions
        f"$KV.{LEASES_BUCKET}.oms.other",  # another account's lease
        f"{API}.CONSUMER.CREATE.{INTENTS_STREAM}.oms-other.intent.other.>",
        f"{API}.CONSUMER.CREATE.{INTENTS_STREAM}.oms-main.intent.other.>",
        f"{API}.STREAM.UPDATE.{INTENTS_STREAM}",
        f"$KV.{PARAMS_BUCKET}.params.other",  # another account's parameters
        "incident.other.oms.other",  # another account's incident
        "incident-ack.oms.other",  # acknowledging another account's incident
        f"{API}.CONSUMER.MSG.NEXT.{INCIDENTS_STREAM}.{GATEWAY_INCIDENTS}",
    ],
    INGEST: [
        KILL,
        intent_subject("main", "MeanReversionV1", "SPY"),
        "exec.main.MeanReversionV1.SPY",
        f"$KV.{LEASES_BUCKET}.oms.main",
        "incident.main.oms.main",
        f"$KV.{PARAMS_BUCKET}.params.main",
    ],
    GATEWAY: [
        intent_subject("main", "MeanReversionV1", "SPY"),
        "exec.main.MeanReversionV1.SPY",
        bar_subject(0),
        f"$KV.{LEASES_BUCKET}.oms.main",
        f"$KV.{COMPONENTS_BUCKET}.oms.main",
        f"$KV.{PARAMS_BUCKET}.params.main",  # a change goes through the order manager
        "incident.main.oms.main",
    ],
}


@pytest.mark.parametrize("user", list(FORBIDDEN))
async def test_a_roles_user_may_publish_only_what_that_role_publishes(
    tmp_path: Path, nats_server: LocalNats, admin: JetStreamContext, user: str
) -> None:
    """Each forbidden publish (the control bucket from anything but the gateway, another
    strategy's or account's intents, a lease, a fill, another user's consumer) is refused by
    the server and changes nothing."""
    revision = await _killed(tmp_path, nats_server, admin)
    refusals = Refusals()
    client = await nats_server.connect(user, error_cb=refusals.record)
    try:
        for subject in FORBIDDEN[user]:
            await client.publish(subject, _forged_buy(), reply=client.new_inbox())
        await client.flush()
        await eventually(lambda: all(refusals.of(s) for s in FORBIDDEN[user]), within=10)
    finally:
        await client.close()
    await _untouched(admin, revision)
    assert len(nats_server.violations) >= len(FORBIDDEN[user])  # the server logged each
    nats_server.violations.clear()  # expected here; anywhere else they fail the test


async def test_each_role_still_does_its_own_work_with_its_own_user(
    tmp_path: Path, nats_server: LocalNats, admin: JetStreamContext
) -> None:
    """The same server lets each role do what it is for: a worker publishes its strategy's
    intent, the order manager its account's execution, the ingestor a bar, the gateway a
    kill, then reads the orders, the components and their acks."""
    cfg = _cfg(tmp_path, nats_server)
    revision = await _killed(tmp_path, nats_server, admin)
    allowed = {
        worker_user("MeanReversionV1"): intent_subject("main", "MeanReversionV1", "SPY"),
        oms_user("main"): "exec.main.MeanReversionV1.SPY",
        INGEST: bar_subject(0),
    }
    for user, subject in allowed.items():
        client = await nats_server.connect(user)
        try:
            ack = await client.jetstream().publish(subject, _forged_buy())
            assert ack.seq >= 1, user
        finally:
            await client.close()
    gateway = await nats_server.connect(GATEWAY)
    try:
        js = gateway.jetstream()
        account_kill = await request_kill(js, cfg, "main", "U1", "from the gateway")
        assert account_kill > revision
        assert (await (await control_bucket(js, cfg)).get(kill_key("main"))).value
        assert {o.key for o in await read_orders(js, cfg)} == {kill_key(), kill_key("main")}
        assert await read_components(js, cfg) == []
        report = await await_acks(js, cfg, kill_key("main"), account_kill, within_sec=0.1)
        assert report.complete
    finally:
        await gateway.close()


async def test_a_role_without_credentials_is_refused_and_says_so(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """`tradebot worker` with no NATS user set: one line saying the server refused it, exit 2,
    no traceback."""
    config = write_config(tmp_path, **{"cluster.nats_url": nats_server.url})
    proc = await spawn_tradebot(
        None, "worker", "--strategy", "MeanReversionV1", "--config", str(config)
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2, err.decode()
    assert b"refused the connection without a user (TRADEBOT_NATS_USER is not set)" in err
    assert b"Traceback" not in err


async def test_tradebot_cluster_runs_authenticated_end_to_end(tmp_path: Path) -> None:
    """`tradebot cluster` (what `make cluster` runs): its own users, each role connected as
    its own, and bars -> intents -> orders -> fills back at the workers with no permission
    refused anywhere; SIGTERM stops it cleanly."""
    store = tmp_path / "nats"
    config = write_config(tmp_path, **{"cluster.store_dir": str(store)})
    proc = await spawn_tradebot(None, "cluster", "--config", str(config), "--speed", "0")
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        while not any(line.startswith("[oms.") and "(filled)" in line for line in seen):
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            assert line, "tradebot cluster ended:\n" + "".join(seen[-20:])
            seen.append(line.decode(errors="replace"))
    finally:
        out, err = await stop_tradebot(proc)
    text = "".join(seen) + out.decode(errors="replace")
    assert proc.returncode == 0, text + err.decode(errors="replace")
    assert "users admin, gateway, ingest, oms.main, worker.MeanReversionV1" in text
    assert "violation" not in text.lower() and "refused the connection" not in text
    assert "[cluster] stopped" in text
    mirrored = re.findall(r"^\[worker\.[^\]]+\] .* stopped: .* (\d+) fills mirrored", text, re.M)
    assert mirrored and sum(map(int, mirrored)) > 0, text  # fills came back to the workers
