"""The Slack gateway against a real nats-server and the loopback Slack (real slack_bolt /
slack_sdk): /trade kill reaches every process (its thread edited as late ones acknowledge),
/trade status aggregates, refusals are audited, a resume is bound to what it showed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.aio.subscription import Subscription

from bot.slack.authz import Policy
from bot.slack.gateway import SILENT, GatewaySurface
from ops.cluster.acks import read_orders
from ops.cluster.ask_account import ask_status
from ops.cluster.commands import AccountStatus, AccountUnreachable, serve_commands
from ops.cluster.config import ClusterConfig, cluster_config
from ops.cluster.control import ControlPlane, ControlView
from ops.cluster.control_requests import request_kill
from ops.cluster.credentials import GATEWAY
from ops.cluster.gateway import GatewayCore
from ops.cluster.server import LocalNats
from ops.config.settings import load_settings
from ops.control.confirm import Confirmations
from ops.journal.journal import Journal
from strategy.clock import ManualClock, SystemClock
from tests.fakes.slack import Message, SlackFake
from tests.slack_rig import nonce, slash_command
from tests.support import (
    Harness,
    bar,
    eventually,
    make_harness,
    spawn_tradebot,
    stop_tradebot,
    write_config,
)

SILENT_WORKER = "worker.MeanReversionV1-p00-15"


class Obeying:
    """An order manager's side of the control plane: apply (here: remember), acknowledge."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.view = ControlView()

    async def __call__(self, view: ControlView) -> None:
        self.view = view
        await self.plane.acknowledge(*view.revisions)


@dataclass
class Cluster:
    slack: SlackFake
    nc: Client
    cfg: ClusterConfig
    core: GatewayCore
    surface: GatewaySurface
    journal: Journal
    accounts: dict[str, Harness]
    oms: dict[str, Obeying]
    planes: list[ControlPlane] = field(default_factory=list)
    subs: list[Subscription] = field(default_factory=list)

    async def command(self, text: str, user: str = "U1", channel: str = "C1") -> dict[str, Any]:
        return await slash_command(self.slack, text, user, channel)

    async def request(self, text: str, user: str = "U1") -> Message:
        """Send a command that asks to confirm; the confirmation posted in C1 (alerts go to
        C2)."""
        before = set(self.slack.messages)

        def posted() -> list[Message]:
            new = (self.slack.messages[ts] for ts in set(self.slack.messages) - before)
            return [m for m in new if m.channel == "C1" and m.thread_ts is None]

        envelope = await self.slack.send_slash_command(text, user_id=user)
        await envelope.acked()
        await eventually(posted)
        (message,) = posted()
        return message


def _cfg(tmp_path: Path) -> ClusterConfig:
    return cluster_config(
        load_settings(
            write_config(
                tmp_path,
                **{
                    "cluster.accounts": ["main", "other"],
                    "cluster.strategies": ["MeanReversionV1:main", "Momentum:other"],
                    "cluster.heartbeat_sec": 0.2,
                    "cluster.silent_after_sec": 5,
                },
            )
        )
    )


@pytest.fixture
async def cluster(tmp_path: Path, nats_server: LocalNats) -> AsyncIterator[Cluster]:
    """Two accounts answering commands and obeying the control plane, one silent worker, and
    the gateway on the loopback Slack."""
    slack = SlackFake()
    await slack.__aenter__()
    nc = await nats_server.connect()
    js = nc.jetstream()
    cfg = _cfg(tmp_path)
    accounts: dict[str, Harness] = {}
    oms: dict[str, Obeying] = {}
    subs, planes = [], []
    for account in cfg.accounts:
        folder = tmp_path / account
        folder.mkdir()
        accounts[account] = make_harness(folder)
        subs.append(await serve_commands(nc, account, accounts[account].core))
        plane = ControlPlane(js, cfg, "oms", account, account)
        oms[account] = Obeying(plane)
        await plane.start(oms[account])
        planes.append(plane)
    # A worker that heartbeat a minute ago and then died: it never acknowledges anything.
    dead = ControlPlane(js, cfg, *SILENT_WORKER.split(".", 1), "main", _minute_ago())
    await dead.start(_never_acknowledges)
    planes.append(dead)
    journal = Journal(tmp_path / "gateway.db")
    journal.start()
    core = GatewayCore(
        nc,
        cfg,
        Confirmations(time.time),
        journal,
        SystemClock(),
        kill_ttl_sec=60,
        ack_within_sec=10,
    )
    policy = Policy(frozenset({"U1", "U2"}), frozenset(), frozenset({"C1"}), "C2")
    surface = GatewaySurface(core, policy, "xoxb-test", "xapp-test", slack.api_url, "C2", 0)
    gateway = ControlPlane(js, cfg, "gateway", "slack", None)
    await gateway.start()
    planes.append(gateway)
    await surface.start()
    await slack.wait_connected(1)
    yield Cluster(slack, nc, cfg, core, surface, journal, accounts, oms, planes, subs)
    await surface.stop()
    for plane in planes:
        await plane.stop()
    await nc.close()  # the command responders with it
    journal.close()
    for h in accounts.values():
        h.journal.close()
    await slack.__aexit__()


def _minute_ago() -> ManualClock:
    return ManualClock(start=time.time() - 60)


async def _never_acknowledges(view: ControlView) -> None:
    """A process that died before it could apply anything."""


async def test_kill_is_two_step_and_the_thread_names_who_acknowledged(cluster: Cluster) -> None:
    """/trade kill asks to confirm; Confirm writes kill.global with the requester; every live
    process acknowledges; the thread says "acknowledged by 2 of 3" and names the silent one."""
    message = await cluster.request("kill")
    assert "KILL every account" in message.text
    assert await read_orders(cluster.nc.jetstream(), cluster.cfg) == []  # nothing before Confirm
    envelope = await cluster.slack.send_block_action(message.ts, "confirm", nonce(message), "U1")
    await envelope.acked()
    await eventually(lambda: cluster.slack.thread(message.ts))
    (kill,) = await read_orders(cluster.nc.jetstream(), cluster.cfg)
    assert (kill.key, kill.active, kill.requester) == ("kill.global", True, "U1")
    reply = cluster.slack.thread(message.ts)[0].text
    assert "acknowledged by 2 of 3" in reply
    assert f"silent: {SILENT_WORKER}" in reply
    assert "oms.main" in reply and "oms.other" in reply
    await eventually(lambda: "acknowledged by 2 of 3" in message.text)
    for obeying in cluster.oms.values():
        assert obeying.view.killed is not None and obeying.view.killed.revision == kill.revision


async def test_status_aggregates_accounts_and_processes(cluster: Cluster) -> None:
    """/trade status shows each account as its order manager answers (state, equity,
    positions) and every process with its heartbeat age, the silent one named."""
    main = cluster.accounts["main"]
    await main.push(bar("SPY", 0, 100.0))
    await main.run("pause", user="U2")
    answer = await cluster.command("status")
    text = answer["text"]
    assert "account main: PAUSED" in text
    assert "account other: ACTIVE" in text
    assert "equity $100,000.00" in text
    assert f"SILENT (no heartbeat): {SILENT_WORKER}" in text
    assert "oms.main [main]: heartbeat" in text and "gateway.slack: heartbeat" in text
    assert answer["response_type"] == "ephemeral"


async def test_an_account_without_an_order_manager_is_named_unreachable(
    cluster: Cluster,
) -> None:
    """No responder on cmd.{account} is said, not waited on until Slack gives up."""
    await cluster.subs[1].unsubscribe()
    got = await ask_status(cluster.nc, "other", "U1", "C1", 2.0)
    assert isinstance(got, AccountUnreachable) and "no order manager" in got.error
    answer = await cluster.command("status")
    assert "account other: UNREACHABLE" in answer["text"]
    assert isinstance(await ask_status(cluster.nc, "main", "U1", "C1", 2.0), AccountStatus)


async def test_unauthorized_user_is_refused_and_audited(cluster: Cluster) -> None:
    """A non-operator's kill is refused privately, nothing is written, and the gateway's
    journal has the audit row, as on the single-process surface."""
    refused = await cluster.command("kill", user="U9")
    assert "is not an operator" in refused["text"]
    elsewhere = await cluster.command("status", channel="C9")
    assert "channel is not allowed" in elsewhere["text"]
    assert await read_orders(cluster.nc.jetstream(), cluster.cfg) == []
    cluster.journal.flush()
    rows = cluster.journal.query("select user, command, outcome, surface from commands")
    assert {"user": "U9", "command": "kill", "outcome": "unauthorized", "surface": "slack"} in rows


async def test_pause_one_account_reaches_only_it(cluster: Cluster) -> None:
    """/trade pause other writes pause.other at once; only that account's process is expected
    to acknowledge it, and it does."""
    answer = await cluster.command("pause other")
    assert "pause.other" in answer["text"] and "acknowledged by 1 of 1" in answer["text"]
    assert cluster.oms["other"].view.paused is not None
    assert cluster.oms["main"].view.paused is None


async def test_a_silent_process_is_an_alert_thread(cluster: Cluster) -> None:
    """The gateway raises an incident naming a process whose heartbeat stopped."""
    await eventually(lambda: SILENT + SILENT_WORKER in cluster.surface.alerts.incidents)
    await eventually(
        lambda: any(
            SILENT_WORKER in m.text and m.channel == "C2" for m in cluster.slack.messages.values()
        )
    )


async def test_tradebot_gateway_process_answers_and_refuses_without_tokens(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """`tradebot gateway` heartbeats as gateway.slack, answers /trade over its one Socket Mode
    connection and stops cleanly; without the Slack tokens it says so and exits 2."""
    config = write_config(
        tmp_path,
        **{
            "cluster.nats_url": nats_server.url,
            "slack.operators": ["U1"],
            "slack.allowed_channels": ["C1"],
        },
    )
    refused = await spawn_tradebot(
        None, "gateway", "--config", str(config), **nats_server.env(GATEWAY)
    )
    _, err = await asyncio.wait_for(refused.communicate(), 60)
    assert refused.returncode == 2 and b"SLACK_BOT_TOKEN" in err
    async with SlackFake() as slack:
        proc = await spawn_tradebot(
            None,
            "gateway",
            "--config",
            str(config),
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_APP_TOKEN="xapp-test",
            SLACK_API_URL=slack.api_url,
            **nats_server.env(GATEWAY),
        )
        try:
            await slack.wait_connected(1, within=30)
            envelope = await slack.send_slash_command("status")
            await envelope.acked()
            await eventually(lambda: slack.responses, within=30)
            text = slack.responses[0]["text"]
            assert "account main: UNREACHABLE" in text and "gateway.slack: heartbeat" in text
        finally:
            _, err = await stop_tradebot(proc)
        assert proc.returncode == 0, err.decode()[-2000:]


def _commands(journal: Journal) -> list[dict[str, Any]]:
    journal.flush()
    return journal.query("select user, channel, command, outcome, surface from commands")


async def test_a_read_only_command_shows_each_accounts_answer_under_its_name(
    cluster: Cluster,
) -> None:
    """/trade positions asks every account's command core over NATS; each answer appears under
    its account's name, and each order manager audits the asker in its own journal."""
    main = cluster.accounts["main"]
    await main.push(bar("SPY", 0, 100.0))
    await main.buy_behind_the_books_back("SPY", 10, 100.0)
    await main.push(bar("SPY", 1, 100.0))
    text = (await cluster.command("positions"))["text"]
    mine, _, theirs = text.partition("account other:")
    assert "account main:" in mine and "SPY" in mine and "NO" in mine
    assert "(no positions in the book or at the broker)" in theirs and "SPY" not in theirs
    pnl = (await cluster.command("pnl week"))["text"]
    assert pnl.count("P&L week") == 2
    for h in cluster.accounts.values():
        rows = _commands(h.journal)
        want = {"user": "U1", "channel": "C1", "command": "positions", "outcome": "ok"}
        assert {**want, "surface": "cluster"} in rows


async def test_a_read_only_command_names_an_unreachable_account(cluster: Cluster) -> None:
    """An account whose order manager does not answer is named UNREACHABLE beside the
    answers of the others, at once (no responder), not waited on."""
    await cluster.subs[1].unsubscribe()
    text = (await cluster.command("slippage"))["text"]
    assert "account main:\n    no fills yet" in text
    assert "account other: UNREACHABLE (no order manager is answering)" in text


async def test_one_account_is_asked_alone_with_the_account_flag(cluster: Cluster) -> None:
    """`/trade config --account other` asks only that account (the other never hears of it);
    help says how."""
    text = (await cluster.command("config --account other"))["text"]
    assert "account other:" in text and "strategy.entry_z" in text
    assert "account main" not in text
    assert [
        r for r in _commands(cluster.accounts["main"].journal) if r["command"] == "config"
    ] == []
    assert {"config"} == {r["command"] for r in _commands(cluster.accounts["other"].journal)}
    help_text = (await cluster.command("help"))["text"]
    assert "--account NAME" in help_text


async def test_an_unknown_account_is_named_and_nobody_is_asked(cluster: Cluster) -> None:
    """An account the cluster does not configure is refused with the ones it does; the
    refusal is audited at the gateway and no order manager is asked."""
    text = (await cluster.command("pnl --account nosuch"))["text"]
    assert "no account 'nosuch': name one of main, other" in text
    rows = _commands(cluster.journal)
    assert {"command": "pnl --account nosuch", "outcome": "refused"}.items() <= rows[-1].items()
    for h in cluster.accounts.values():
        assert _commands(h.journal) == []


async def test_a_reader_outside_the_allowed_channels_is_refused_and_audited(
    cluster: Cluster,
) -> None:
    """A read-only command from a channel that may not operate is refused and audited at the
    gateway, and no account is asked; from an allowed one the accounts answer it."""
    refused = await cluster.command("checklist", user="U9", channel="C9")
    assert "channel is not allowed" in refused["text"]
    gateway = _commands(cluster.journal)
    assert {"user": "U9", "channel": "C9", "command": "checklist", "outcome": "unauthorized"} in [
        {k: r[k] for k in ("user", "channel", "command", "outcome")} for r in gateway
    ]
    for h in cluster.accounts.values():
        assert _commands(h.journal) == []
    answered = await cluster.command("checklist", user="U9")
    assert answered["text"].count("Pre-deploy checklist") == 2
    assert all(
        {r["user"] for r in _commands(h.journal)} == {"U9"} for h in cluster.accounts.values()
    )


async def test_commands_the_gateway_does_not_send_are_refused_saying_why(cluster: Cluster) -> None:
    """ack, resolve and test-alert act on one process's incidents and are not sent; a change
    of one account that names none of two is refused with their names; nobody is asked."""
    text = (await cluster.command("ack order-foreign:SPY"))["text"]
    assert "not sent through the gateway" in text
    text = (await cluster.command("set entry_z 2.2"))["text"]
    assert "`set` changes one account: add `--account NAME` (main, other)" in text
    for h in cluster.accounts.values():
        assert _commands(h.journal) == []


LATE = "worker.Late-p00-15"


async def test_late_acknowledgements_edit_the_kill_thread(cluster: Cluster) -> None:
    """A worker silent when the kill is confirmed (its heartbeat a minute old) is named silent;
    when it acknowledges later, the thread's reply and the headline are edited to "acknowledged
    by 3 of 3 after N s" instead of staying at the count of the deadline."""
    js = cluster.nc.jetstream()
    dead = next(p for p in cluster.planes if p.key == SILENT_WORKER)
    await dead.stop()  # only the late worker and the two order managers are in scope
    released = asyncio.Event()
    late = ControlPlane(js, cluster.cfg, *LATE.split(".", 1), "main", _minute_ago())

    async def acknowledge_when_released(view: ControlView) -> None:
        if view.killed is not None:
            await released.wait()
        await late.acknowledge(*view.revisions)

    await late.start(acknowledge_when_released)
    cluster.planes.append(late)
    try:
        message = await cluster.request("kill")
        envelope = await cluster.slack.send_block_action(
            message.ts, "confirm", nonce(message), "U1"
        )
        await envelope.acked()
        await eventually(lambda: _reply(cluster, message))
        first = _reply(cluster, message)
        assert "acknowledged by 2 of 3" in first.text and f"silent: {LATE}" in first.text
        await eventually(lambda: "acknowledged by 2 of 3" in message.text)
        released.set()
        await eventually(lambda: "acknowledged by 3 of 3 after" in _reply(cluster, message).text)
        assert LATE in _reply(cluster, message).text
        assert len(cluster.slack.thread(message.ts)) == 1  # edited, not a new reply
        await eventually(lambda: "acknowledged by 3 of 3 after" in message.text)
    finally:
        released.set()


async def test_a_resume_confirmed_after_a_new_kill_is_refused(cluster: Cluster) -> None:
    """/trade resume asked while kill.global is in force, then a new kill written (another
    operator, another path) before the Confirm: the Confirm is refused, saying what was
    written since; the kill stays in force; the refusal is audited."""
    js = cluster.nc.jetstream()
    await request_kill(js, cluster.cfg, None, "U2", "first")
    message = await cluster.request("resume")
    assert "in force now: kill.global by U2" in str(message.blocks)
    again = await request_kill(js, cluster.cfg, None, "U2", "second")
    envelope = await cluster.slack.send_block_action(message.ts, "confirm", nonce(message), "U1")
    await envelope.acked()
    await eventually(lambda: message.text.startswith("Not applied"))
    assert "kill.global was written since you asked" in message.text
    kill = next(o for o in await read_orders(js, cluster.cfg) if o.key == "kill.global")
    assert (kill.active, kill.revision, kill.reason) == (True, again, "second")
    refused = [r for r in _commands(cluster.journal) if r["command"] == "apply resume"]
    assert [r["outcome"] for r in refused] == ["refused"]


def _reply(rig: Cluster, message: Message) -> Message | None:
    replies = rig.slack.thread(message.ts)
    return replies[0] if replies else None


async def test_long_extra_words_are_quoted_back_cut_at_the_gateway(cluster: Cluster) -> None:
    """Extra words after a read-only command are refused and only their start is quoted back,
    as at the console; nobody is asked."""
    text = (await cluster.command("status " + "w" * 300))["text"]
    assert "unexpected 'wwww" in text and "(cut: 300 characters)" in text
    assert "w" * 41 not in text
    for h in cluster.accounts.values():
        assert _commands(h.journal) == []
