"""Every process's incidents reach Slack through the gateway: a real nats-server, the order
manager (a real `tradebot oms` process, or its start_oms in this process) on the loopback
Alpaca, and the gateway on the loopback Slack (real slack_bolt / slack_sdk)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from bot.oms_cli import start_oms
from bot.slack.authz import Policy
from bot.slack.gateway import GatewaySurface
from ops.cluster.acks import read_components
from ops.cluster.config import cluster_config
from ops.cluster.control_requests import request_kill
from ops.cluster.credentials import GATEWAY, INGEST, oms_user
from ops.cluster.gateway import GatewayCore
from ops.cluster.incidents import IncidentPublisher, decode_event
from ops.cluster.server import LocalNats
from ops.cluster.streams import ensure_streams
from ops.cluster.subjects import INCIDENTS_STREAM
from ops.config.settings import load_settings
from ops.control.confirm import Confirmations
from ops.journal.journal import Journal
from strategy.clock import SystemClock
from strategy.types import OrderStatus
from tests.fakes.alpaca import AlpacaFake
from tests.fakes.slack import Message, SlackFake
from tests.slack_rig import nonce
from tests.support import eventually, spawn_tradebot, stop_tradebot
from tests.test_cluster_oms import (
    ACCOUNT,
    alpaca_env,
    entry,
    intents_done,
    oms_config,
    publish_intent,
    publish_mark,
    statuses,
)

ALERTS = "C2"
KILL_INCIDENT = f"oms.{ACCOUNT}/kill"
NAMED = f"account {ACCOUNT}, oms.{ACCOUNT}"
FEED_AUTH = "ingest.alpaca/feed-auth"


@contextlib.asynccontextmanager
async def _gateway(
    tmp_path: Path, server: LocalNats, slack: SlackFake, started: int = 1
) -> AsyncIterator[GatewaySurface]:
    """The gateway as `tradebot gateway` composes it, its journal in tmp_path (kept across a
    restart of it); `started`: the how-manieth gateway on this Slack this is."""
    nc = await server.connect(GATEWAY)
    journal = Journal(tmp_path / "gateway.db")
    journal.start()
    cfg = cluster_config(load_settings(tmp_path / "config.yaml"))
    await ensure_streams(nc.jetstream(), cfg)
    core = GatewayCore(
        nc, cfg, Confirmations(time.time), journal, SystemClock(), kill_ttl_sec=60, ack_within_sec=5
    )
    policy = Policy(frozenset({"U1"}), frozenset(), frozenset({"C1"}), ALERTS)
    surface = GatewaySurface(core, policy, "xoxb-test", "xapp-test", slack.api_url, ALERTS, 0)
    await surface.start()
    try:
        await slack.wait_connected(started)
        yield surface
    finally:
        await surface.stop()
        await nc.close()
        journal.close()


def _config(tmp_path: Path, server: LocalNats) -> Path:
    """The loopback Alpaca; a kill that cannot get flat says NOT FLAT after 2 s."""
    return oms_config(tmp_path, server, **{"broker.name": "alpaca", "kill.timeout_sec": 2})


def _alert_root(slack: SlackFake, key: str) -> Message | None:
    roots = [
        m
        for m in slack.messages.values()
        if m.channel == ALERTS and m.thread_ts is None and f"`{key}`" in m.text
    ]
    return roots[-1] if roots else None


def _in_thread(slack: SlackFake, root: Message, words: str) -> bool:
    return any(words in m.text for m in slack.thread(root.ts))


async def _oms_up(js: JetStreamContext, config: Path) -> bool:
    cfg = cluster_config(load_settings(config))
    return any(c.key == f"oms.{ACCOUNT}" for c in await read_components(js, cfg))


async def _holding_spy(js: JetStreamContext) -> None:
    await publish_mark(js)
    await publish_intent(js, entry())
    await eventually(lambda: intents_done(js), within=20)
    await eventually(lambda: _filled(js), within=20)


async def _filled(js: JetStreamContext) -> bool:
    return OrderStatus.FILLED in await statuses(js)


async def test_a_kill_not_flat_in_tradebot_oms_is_a_thread_and_its_outcome_in_the_kill_thread(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """A kill confirmed in Slack that a `tradebot oms` cannot finish (its close refused):
    NOT FLAT is an alert thread naming account and process, and said in the kill's own thread;
    once keep-flattening gets it flat, FLAT follows there and the alert thread is resolved."""
    async with AlpacaFake() as alpaca, SlackFake() as slack:
        alpaca.prices["SPY"] = 500.0
        config = _config(tmp_path, nats_server)
        oms = await spawn_tradebot(
            None,
            "oms",
            "--account",
            ACCOUNT,
            "--config",
            str(config),
            **alpaca_env(alpaca),
            **nats_server.env(oms_user(ACCOUNT)),
        )
        nc = await nats_server.connect()
        js = nc.jetstream()
        try:
            await eventually(lambda: _oms_up(js, config), within=30)
            await _holding_spy(js)
            alpaca.refuse_close("SPY", times=1_000_000)
            async with _gateway(tmp_path, nats_server, slack):
                envelope = await slack.send_slash_command("kill", user_id="U1")
                await envelope.acked()
                await eventually(lambda: _confirmation(slack))
                message = _confirmation(slack)
                assert message is not None
                clicked = await slack.send_block_action(message.ts, "confirm", nonce(message), "U1")
                await clicked.acked()
                await eventually(lambda: _in_thread(slack, message, "NOT FLAT"), within=60)
                said = next(m.text for m in slack.thread(message.ts) if "NOT FLAT" in m.text)
                assert NAMED in said and "SPY" in said
                await eventually(lambda: _alert_root(slack, KILL_INCIDENT), within=10)
                root = _alert_root(slack, KILL_INCIDENT)
                assert root is not None and NAMED in root.text and "NOT FLAT" in root.text
                alpaca.refuse_close("SPY", times=0)  # keep-flattening's next try closes it
                await eventually(lambda: _in_thread(slack, message, "FLAT after"), within=30)
                await eventually(lambda: "RESOLVED" in root.text, within=10)
                await eventually(lambda: _in_thread(slack, root, "Resolved: "))
        finally:
            await nc.close()
            _out, err = await stop_tradebot(oms)
        assert oms.returncode == 0, err.decode()[-2000:]


def _confirmation(slack: SlackFake) -> Message | None:
    found = [m for m in slack.messages.values() if m.channel == "C1" and m.thread_ts is None]
    return found[0] if found else None


async def test_incidents_raised_while_the_gateway_is_down_are_posted_when_it_is_back(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The gateway's consumer is durable: an order manager's NOT FLAT raised while no gateway
    ran is a thread once one starts; a gateway restarted after the thread was opened resolves
    that same thread (its root kept in the gateway's journal), not a new one."""
    async with AlpacaFake() as alpaca, SlackFake() as slack:
        alpaca.prices["SPY"] = 500.0
        config = _config(tmp_path, nats_server)
        cfg = cluster_config(load_settings(config))
        running = await start_oms(
            ACCOUNT, config, alpaca_env(alpaca) | nats_server.env(oms_user(ACCOUNT))
        )
        nc = await nats_server.connect()
        js = nc.jetstream()
        try:
            async with _gateway(tmp_path, nats_server, slack):
                pass  # a gateway ran once: its durable consumer exists, then it stopped
            await _holding_spy(js)
            alpaca.refuse_close("SPY", times=1_000_000)
            await request_kill(js, cfg, None, "U1", "test")
            await eventually(lambda: "kill" in running.service.open_alerts, within=60)
            async with _gateway(tmp_path, nats_server, slack, started=2):
                await eventually(lambda: _alert_root(slack, KILL_INCIDENT), within=10)
            root = _alert_root(slack, KILL_INCIDENT)
            assert root is not None and NAMED in root.text and "NOT FLAT" in root.text
            alpaca.refuse_close("SPY", times=0)
            await eventually(lambda: "kill" not in running.service.open_alerts, within=30)
            async with _gateway(tmp_path, nats_server, slack, started=3):
                await eventually(lambda: "RESOLVED" in root.text, within=10)
            roots = [
                m
                for m in slack.messages.values()
                if m.channel == ALERTS and m.thread_ts is None and KILL_INCIDENT in m.text
            ]
            assert roots == [root]
        finally:
            await nc.close()
            await running.stop()


async def test_acknowledge_in_slack_goes_to_the_order_manager_that_owns_the_incident(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """Acknowledge on an order manager's incident is taken by that order manager (journaled
    there) and the root then names who took it; a process that is gone says so and nothing
    changes."""
    async with AlpacaFake() as alpaca, SlackFake() as slack:
        alpaca.prices["SPY"] = 500.0
        config = _config(tmp_path, nats_server)
        cfg = cluster_config(load_settings(config))
        running = await start_oms(
            ACCOUNT, config, alpaca_env(alpaca) | nats_server.env(oms_user(ACCOUNT))
        )
        nc = await nats_server.connect()
        js = nc.jetstream()
        stopped = False
        try:
            async with _gateway(tmp_path, nats_server, slack):
                await _holding_spy(js)
                alpaca.refuse_close("SPY", times=1_000_000)
                await request_kill(js, cfg, None, "U1", "test")
                await eventually(lambda: _alert_root(slack, KILL_INCIDENT), within=60)
                root = _alert_root(slack, KILL_INCIDENT)
                assert root is not None
                clicked = await slack.send_block_action(
                    root.ts, "ack", KILL_INCIDENT, "U1", channel_id=ALERTS
                )
                await clicked.acked()
                await eventually(lambda: "acknowledged by <@U1>" in root.text, within=10)
                running.service.journal.flush()
                rows = running.service.journal.query(
                    "select key, status, message from alerts where status = 'acknowledged'"
                )
                assert rows == [
                    {"key": "kill", "status": "acknowledged", "message": "acknowledged by U1"}
                ]
                await running.stop()
                stopped = True
                before = root.text
                clicked = await slack.send_block_action(
                    root.ts, "ack", KILL_INCIDENT, "U1", channel_id=ALERTS
                )
                await clicked.acked()
                await eventually(lambda: slack.responses)
                assert f"oms.{ACCOUNT} is not running" in slack.responses[-1]["text"]
                assert root.text == before
        finally:
            await nc.close()
            if not stopped:
                await running.stop()


async def test_an_ingestors_refused_credentials_are_a_thread_resolved_when_accepted(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """A `tradebot ingest` whose Alpaca data stream refuses the keys: its feed-auth incident is
    a thread naming the process, resolved once the keys are accepted again."""
    async with AlpacaFake() as alpaca, SlackFake() as slack:
        alpaca.refuse_stream_auth = True
        config = _config(tmp_path, nats_server)
        ingest = await spawn_tradebot(
            None, "ingest", "--config", str(config), **alpaca_env(alpaca), **nats_server.env(INGEST)
        )
        try:
            async with _gateway(tmp_path, nats_server, slack):
                await eventually(lambda: _alert_root(slack, FEED_AUTH), within=30)
                root = _alert_root(slack, FEED_AUTH)
                assert root is not None and "ingest.alpaca: " in root.text
                alpaca.refuse_stream_auth = False
                await eventually(lambda: "RESOLVED" in root.text, within=30)
        finally:
            _out, err = await stop_tradebot(ingest)
        assert ingest.returncode == 0, err.decode()[-2000:]


async def test_publishing_never_waits_for_nats_and_keeps_the_newest_when_full(
    tmp_path: Path, nats_server: LocalNats, caplog: pytest.LogCaptureFixture
) -> None:
    """While JetStream does not take the events (no INCIDENTS stream yet) a raise returns at
    once, the queue keeps its bound (the oldest dropped, said in the log) and the rest go out,
    retried, once it does."""
    nc = await nats_server.connect()
    publisher = IncidentPublisher(nc, "oms", ACCOUNT, ACCOUNT, max_pending=3)
    try:
        await publisher.start()
        for n in range(5):
            publisher.raise_alert(f"exit-refused:S{n}", "critical", f"refused {n}")
        assert publisher.pending == 3 and publisher.dropped == 2
        await eventually(lambda: "not published yet" in caplog.text)
        assert "exit-refused:S0 not published" in caplog.text
        cfg = cluster_config(load_settings(oms_config(tmp_path, nats_server)))
        await ensure_streams(nc.jetstream(), cfg)
        await eventually(lambda: publisher.pending == 0, within=10)
        info = await nc.jetstream().stream_info(INCIDENTS_STREAM)
        keys = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await nc.jetstream().get_msg(INCIDENTS_STREAM, seq)
            keys.append(decode_event(msg.data or b"").key)
        assert keys == ["exit-refused:S2", "exit-refused:S3", "exit-refused:S4"]
    finally:
        await publisher.stop()
        await nc.close()
