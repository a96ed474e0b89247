"""Changes of one account through the gateway, on a real nats-server and the loopback Slack
(real slack_bolt / slack_sdk): `set`/`reset` with the single service's preview, Confirm,
four_eyes, expiry, audit and persistence, applied by the account's order manager (its command
core) and a worker (the real engine of `tradebot worker`) and acknowledged "by N of M"; `adopt`
and `cancel-order` answered by the account's order manager."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from bot.slack.authz import Policy
from bot.slack.gateway import GatewaySurface
from ops.cluster.acks import read_components
from ops.cluster.commands import serve_commands
from ops.cluster.config import ClusterConfig, cluster_config
from ops.cluster.control import ControlPlane, ControlView
from ops.cluster.credentials import GATEWAY, oms_user, worker_user
from ops.cluster.gateway import GatewayCore
from ops.cluster.params import (
    ParamsFollower,
    engine_applier,
    load_account_params,
    publish_params,
)
from ops.cluster.server import LocalNats
from ops.cluster.streams import params_bucket
from ops.cluster.worker import Worker
from ops.cluster.worker_setup import build_worker, follow_control
from ops.config.settings import load_settings
from ops.control.confirm import Confirmations
from ops.journal.journal import Journal
from strategy.clock import SystemClock
from strategy.types import Intent, OrderRequest, OrderType, Side, TimeInForce
from tests.fakes.slack import Message, SlackFake
from tests.slack_rig import nonce, slash_command
from tests.support import (
    Harness,
    WallClock,
    bar,
    eventually,
    make_harness,
    write_config,
)

WORKER = "worker.MeanReversionV1-p00-15"
CLUSTER_KEYS: dict[str, object] = {
    "cluster.accounts": ["main", "other"],
    "cluster.strategies": ["MeanReversionV1:main", "Momentum:other"],
    "cluster.heartbeat_sec": 0.2,
    "cluster.silent_after_sec": 5,
}


@dataclass
class Rig:
    slack: SlackFake
    nc: Client
    cfg: ClusterConfig
    core: GatewayCore
    wall: WallClock  # the gateway's confirmations' clock
    journal: Journal
    accounts: dict[str, Harness]
    worker: Worker  # MeanReversionV1 on account main
    surface: GatewaySurface
    planes: list[ControlPlane] = field(default_factory=list)
    followers: list[ParamsFollower] = field(default_factory=list)
    subs: list[Subscription] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)  # each role's own connection

    async def command(self, text: str, user: str = "U1") -> dict[str, Any]:
        return await slash_command(self.slack, text, user, "C1")

    async def request(self, text: str, user: str = "U1") -> Message:
        """A command that asks to confirm: the confirmation it posted in C1."""
        before = set(self.slack.messages)

        def posted() -> list[Message]:
            new = (self.slack.messages[ts] for ts in set(self.slack.messages) - before)
            return [m for m in new if m.channel == "C1" and m.thread_ts is None]

        envelope = await self.slack.send_slash_command(text, user_id=user)
        await envelope.acked()
        await eventually(posted)
        (message,) = posted()
        return message

    async def click(self, message: Message, user: str, action: str = "confirm") -> None:
        edits, responses = message.edits, len(self.slack.responses)
        envelope = await self.slack.send_block_action(message.ts, action, nonce(message), user)
        await envelope.acked()
        await eventually(lambda: message.edits > edits or len(self.slack.responses) > responses)


class Obeying:
    """An order manager's side of the control plane: acknowledge what it is told."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def __call__(self, view: ControlView) -> None:
        await self.plane.acknowledge(*view.revisions)


async def start_rig(
    tmp_path: Path, nats_server: LocalNats, four_eyes: bool, ack_within_sec: float = 10
) -> Rig:
    """Each account's command core served over NATS and following its params as `tradebot
    oms` wires them; a worker of main built by `tradebot worker`'s own code; the gateway on
    the loopback Slack."""
    slack = SlackFake()
    await slack.__aenter__()
    nc = await nats_server.connect()  # the test's own (the admin)
    clients: list[Client] = []

    async def connect_as(user: str) -> Client:
        client = await nats_server.connect(user)
        clients.append(client)
        return client

    config = write_config(tmp_path, **CLUSTER_KEYS)
    settings = load_settings(config)
    cfg = cluster_config(settings)
    accounts: dict[str, Harness] = {}
    planes, followers, subs = [], [], []
    for account in cfg.accounts:
        folder = tmp_path / account
        folder.mkdir()
        h = accounts[account] = make_harness(folder, four_eyes=four_eyes, **CLUSTER_KEYS)
        oms_nc = await connect_as(oms_user(account))
        js = oms_nc.jetstream()
        follower = await load_account_params(js, cfg, account, h.service, h.service.journal)
        plane = ControlPlane(js, cfg, "oms", account, account)
        await plane.start(Obeying(plane))
        await follower.follow(plane)

        async def publish(
            by: str, apply_open: bool, account: str = account, js: JetStreamContext = js
        ) -> int:
            return await publish_params(
                js, cfg, account, accounts[account].service.settings, by, apply_open
            )

        subs.append(await serve_commands(oms_nc, account, h.core, publish))
        planes.append(plane)
        followers.append(follower)
    js = (await connect_as(worker_user("MeanReversionV1"))).jetstream()
    worker = build_worker(js, settings, cfg, "MeanReversionV1", tuple(range(cfg.partitions)))
    follower = ParamsFollower(js, cfg, "main", engine_applier(worker.engine, worker.gate, settings))
    await follower.load()
    plane = ControlPlane(js, cfg, *WORKER.split(".", 1), "main")
    await plane.start(follow_control(worker.gate, plane))
    await follower.follow(plane)
    planes.append(plane)
    followers.append(follower)
    journal = Journal(tmp_path / "gateway.db")
    journal.start()
    wall = WallClock()
    core = GatewayCore(
        await connect_as(GATEWAY),
        cfg,
        Confirmations(wall, four_eyes),
        journal,
        SystemClock(),
        kill_ttl_sec=60,
        ack_within_sec=ack_within_sec,
    )
    policy = Policy(frozenset({"U1", "U2"}), frozenset(), frozenset({"C1"}), "C2")
    surface = GatewaySurface(core, policy, "xoxb-test", "xapp-test", slack.api_url, "C2", 0)
    await surface.start()
    await slack.wait_connected(1)
    return Rig(
        slack,
        nc,
        cfg,
        core,
        wall,
        journal,
        accounts,
        worker,
        surface,
        planes,
        followers,
        subs,
        clients,
    )


async def stop_rig(rig: Rig) -> None:
    await rig.surface.stop()
    for follower in rig.followers:
        await follower.stop()
    for plane in rig.planes:
        await plane.stop()
    for client in (*rig.clients, rig.nc):
        await client.close()
    rig.journal.close()
    for h in rig.accounts.values():
        h.journal.close()
    await rig.slack.__aexit__()


@pytest.fixture
async def rig(tmp_path: Path, nats_server: LocalNats) -> AsyncIterator[Rig]:
    started = await start_rig(tmp_path, nats_server, four_eyes=False)
    yield started
    await stop_rig(started)


@pytest.fixture
async def four_eyes(tmp_path: Path, nats_server: LocalNats) -> AsyncIterator[Rig]:
    started = await start_rig(tmp_path, nats_server, four_eyes=True)
    yield started
    await stop_rig(started)


@pytest.fixture
async def impatient(tmp_path: Path, nats_server: LocalNats) -> AsyncIterator[Rig]:
    """A gateway that reports after 0.5 s, whoever has acknowledged by then."""
    started = await start_rig(tmp_path, nats_server, four_eyes=False, ack_within_sec=0.5)
    yield started
    await stop_rig(started)


def _rows(journal: Journal, sql: str) -> list[dict[str, Any]]:
    journal.flush()
    return journal.query(sql)


def _audit(h: Harness) -> list[tuple[str, str, str]]:
    rows = _rows(h.journal, "select user, command, outcome from commands")
    return [(r["user"], r["command"], r["outcome"]) for r in rows]


def _param_changes(h: Harness) -> list[dict[str, Any]]:
    return _rows(h.journal, "select param, old, new, user, action from param_changes")


async def test_set_is_previewed_confirmed_applied_by_the_accounts_processes_and_acknowledged(
    rig: Rig,
) -> None:
    """/trade set entry_z 2.2 --account main shows the order manager's preview and changes
    nothing; Confirm applies it in main's order manager (journaled) and main's worker engine,
    and the thread says "acknowledged by 2 of 2"; the other account never hears of it."""
    main, other = rig.accounts["main"], rig.accounts["other"]
    message = await rig.request("set entry_z 2.2 --account main")
    assert "main: set entry_z: 2 -> 2.2" in message.text
    assert "strategy.entry_z_threshold: 2 -> 2.2" in message.text
    assert "allowed: 0.1 .. 10" in message.text
    assert "every worker of its strategies" in message.text
    assert main.service.settings.get("strategy.entry_z_threshold") == 2.0
    assert _param_changes(main) == []
    await rig.click(message, "U1")
    await eventually(lambda: rig.slack.thread(message.ts))
    reply = rig.slack.thread(message.ts)[0].text
    assert "main: entry_z changed 2 -> 2.2 by U1" in reply
    assert "params.main" in reply and "acknowledged by 2 of 2" in reply
    assert "oms.main" in reply and WORKER in reply
    await eventually(lambda: "acknowledged by 2 of 2" in message.text)
    assert main.service.settings.get("strategy.entry_z_threshold") == 2.2
    assert main.service.engine.params.entry_z == 2.2
    assert rig.worker.engine.params.entry_z == 2.2
    assert other.service.settings.get("strategy.entry_z_threshold") == 2.0
    assert _param_changes(main) == [
        {
            "param": "strategy.entry_z_threshold",
            "old": "2",
            "new": "2.2",
            "user": "U1",
            "action": "set",
        }
    ]
    assert _param_changes(other) == []
    gateway = _rows(rig.journal, "select user, command, outcome from commands")
    assert {"user": "U1", "command": "confirm set", "outcome": "ok"} in gateway


async def test_a_risk_limit_reset_reaches_the_gate_of_every_process_of_the_account(
    rig: Rig,
) -> None:
    """A risk limit set then reset through the gateway: the order manager's gate (binding)
    and the worker's pre-check gate both take it, then go back to config.yaml's value."""
    main = rig.accounts["main"]
    message = await rig.request("set risk.max_order_qty 50 --account main")
    await rig.click(message, "U1")
    await eventually(lambda: rig.worker.engine.gate.limits.max_order_qty == 50)
    assert main.service.gate.limits.max_order_qty == 50
    message = await rig.request("reset risk.max_order_qty --account main")
    assert "risk.max_order_qty: 50 -> 500" in message.text
    await rig.click(message, "U1")
    await eventually(lambda: rig.worker.engine.gate.limits.max_order_qty == 500)
    assert main.service.gate.limits.max_order_qty == 500
    actions = [r["action"] for r in _param_changes(main)]
    assert actions == ["set", "reset"]


async def test_with_four_eyes_another_operator_confirms_and_is_the_one_journaled(
    four_eyes: Rig,
) -> None:
    """four_eyes holds across the gateway: the requester's own Confirm is refused and nothing
    changes; another operator's applies it, journaled by them, asked by the requester."""
    rig = four_eyes
    main = rig.accounts["main"]
    message = await rig.request("set entry_z 2.4 --account main", user="U1")
    before = len(rig.slack.responses)
    envelope = await rig.slack.send_block_action(message.ts, "confirm", nonce(message), "U1")
    await envelope.acked()
    await eventually(lambda: len(rig.slack.responses) > before)
    assert "different operator" in rig.slack.responses[-1]["text"]
    assert main.service.settings.get("strategy.entry_z_threshold") == 2.0
    await rig.click(message, "U2")
    await eventually(lambda: rig.slack.thread(message.ts))
    assert "by U2 (asked by U1)" in rig.slack.thread(message.ts)[0].text
    assert rig.worker.engine.params.entry_z == 2.4
    assert [r["user"] for r in _param_changes(main)] == ["U2"]


async def test_an_expired_or_cancelled_change_changes_nothing(rig: Rig) -> None:
    """A set whose confirmation expired at the gateway, and one cancelled, apply nothing in
    any process of the account."""
    main = rig.accounts["main"]
    message = await rig.request("set entry_z 2.2 --account main")
    rig.wall.t += 301
    await rig.click(message, "U1")
    assert "expired" in rig.slack.responses[-1]["text"]
    cancelled = await rig.request("set entry_z 2.3 --account main")
    await rig.click(cancelled, "U1", action="cancel")
    assert "Cancelled by U1; nothing changed." in cancelled.text
    await eventually(lambda: ("U1", "cancel set", "ok") in _audit(main))  # the account's too
    assert main.service.settings.get("strategy.entry_z_threshold") == 2.0
    assert rig.worker.engine.params.entry_z == 2.0
    assert _param_changes(main) == []


async def test_a_change_the_account_refuses_or_that_names_no_account_is_said(rig: Rig) -> None:
    """The order manager's refusals come back as its sentence (a value out of range, one that
    fails the cross-check, an unchanged one); with two accounts a change must name one, and
    then nobody is asked. Nothing is opened to confirm."""
    text = (await rig.command("set entry_z 0.3 --account main"))["text"]
    assert text.startswith(":warning: main:") and "exit_z" in text
    text = (await rig.command("set entry_z 2 --account main"))["text"]
    assert "main:" in text and "already" in text
    text = (await rig.command("set entry_z 2.2"))["text"]
    assert "`set` changes one account: add `--account NAME` (main, other)" in text
    assert [
        r["command"] for r in _rows(rig.accounts["other"].journal, "select * from commands")
    ] == []
    rig.wall.t += 301
    assert rig.core.expire() == []  # nothing was waiting for a Confirm


async def test_adopt_is_confirmed_and_done_by_the_accounts_order_manager(rig: Rig) -> None:
    """/trade adopt SPY --account main shows the order manager's preview; Confirm makes its
    book take the broker's shares."""
    main = rig.accounts["main"]
    await main.push(bar("SPY", 0, 100.0))
    await main.buy_behind_the_books_back("SPY", 10, 100.0)
    await main.push(bar("SPY", 1, 100.0))
    message = await rig.request("adopt SPY --account main")
    assert "main: adopt SPY: book +0 -> broker +10" in message.text
    assert main.service.book.position_qty("SPY") == 0
    await rig.click(message, "U1")
    await eventually(lambda: main.service.book.position_qty("SPY") == 10)
    await eventually(lambda: rig.slack.thread(message.ts))
    assert "main:" in rig.slack.thread(message.ts)[0].text


async def test_cancel_order_is_sent_by_the_accounts_order_manager(rig: Rig) -> None:
    """/trade cancel-order ID --account main cancels that working order at main's broker (no
    confirmation, as in one process); an id it does not know is its refusal."""
    main = rig.accounts["main"]
    await main.push(bar("SPY", 0, 100.0))
    order = OrderRequest(
        "tb-by-test-1",
        "SPY",
        Side.BUY,
        5,
        OrderType.LIMIT,
        TimeInForce.DAY,
        99.5,
        100.0,
        Intent.ENTRY,
        main.clock.now(),
    )
    assert main.service.engine.admit(order, bar_ts=None) is None
    await main.service.engine.submit(order)
    assert main.service.book.order("tb-by-test-1").working  # type: ignore[union-attr]
    text = (await rig.command("cancel-order tb-by-test-1 --account main"))["text"]
    assert "main: cancel of tb-by-test-1 (buy 5 SPY) sent by U1" in text
    await eventually(lambda: not main.service.book.order("tb-by-test-1").working)  # type: ignore[union-attr]
    text = (await rig.command("cancel-order nosuch --account other"))["text"]
    assert text.startswith(":warning: other:") and "nosuch" in text


async def test_a_new_worker_starts_with_the_accounts_changed_values(
    rig: Rig, tmp_path: Path
) -> None:
    """The change is kept in the params bucket: a worker built afterwards (a restart) decides
    with it from its first bar and acknowledges the revision it read."""
    message = await rig.request("set lookback 30 --account main")
    await rig.click(message, "U1")
    await eventually(lambda: rig.worker.engine.params.lookback == 30)
    js = rig.nc.jetstream()
    settings = load_settings(tmp_path / "config.yaml")
    fresh = build_worker(js, settings, rig.cfg, "MeanReversionV1", (0,))
    assert fresh.engine.params.lookback == 20
    follower = ParamsFollower(
        js, rig.cfg, "main", engine_applier(fresh.engine, fresh.gate, settings)
    )
    record = await follower.load()
    assert record is not None and fresh.engine.params.lookback == 30
    plane = ControlPlane(js, rig.cfg, "worker", "restarted", "main")
    await plane.start(follow_control(fresh.gate, plane))
    await follower.follow(plane)
    try:
        components = {c.key: c for c in await read_components(js, rig.cfg)}
        assert components["worker.restarted"].acks["params.main"] == record.revision
    finally:
        await follower.stop()
        await plane.stop()


async def _ignore(view: ControlView) -> None:
    """A process that heartbeats and watches, and applies parameter changes only when told."""


async def test_a_late_acknowledgement_of_a_change_edits_its_thread(impatient: Rig) -> None:
    """A worker of the account that has not applied the change when the report is due is
    named 'not yet'; when it acknowledges, the thread and the message say 3 of 3."""
    rig = impatient
    js = rig.nc.jetstream()
    late = ControlPlane(js, rig.cfg, "worker", "late", "main")
    await late.start(_ignore)
    rig.planes.append(late)
    message = await rig.request("set entry_z 2.2 --account main")
    await rig.click(message, "U1")
    await eventually(lambda: rig.slack.thread(message.ts))
    first = rig.slack.thread(message.ts)[0].text
    assert "acknowledged by 2 of 3" in first and "not yet: worker.late" in first
    revision = (await (await params_bucket(js, rig.cfg)).get("params.main")).revision
    await late.acknowledge_key("params.main", revision)
    await eventually(lambda: "acknowledged by 3 of 3" in rig.slack.thread(message.ts)[0].text)
    assert len(rig.slack.thread(message.ts)) == 1  # the reply is edited, not repeated
    await eventually(lambda: "acknowledged by 3 of 3" in message.text)
