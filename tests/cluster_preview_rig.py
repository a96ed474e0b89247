"""The cluster preview tests' rig: a real nats-server, the real gateway core and Slack surface
on the loopback Slack, and an order manager's command core served as `tradebot oms` serves it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client

from bot.slack.authz import Policy
from bot.slack.gateway import GatewaySurface
from ops.backtest.sessions import SessionSource
from ops.cluster.commands import serve_commands
from ops.cluster.config import cluster_config
from ops.cluster.credentials import GATEWAY, oms_user
from ops.cluster.gateway import GatewayCore
from ops.cluster.server import LocalNats
from ops.config.settings import load_settings
from ops.control.confirm import Confirmations
from ops.journal.journal import Journal
from strategy.clock import SystemClock
from tests.fakes.slack import Message, SlackFake
from tests.preview_support import (
    SYMBOLS,
)
from tests.slack_rig import nonce
from tests.support import (
    Harness,
    WallClock,
    eventually,
    make_harness,
    write_config,
)

CLUSTER_KEYS: dict[str, object] = {
    "cluster.accounts": ["main", "other"],
    "cluster.strategies": ["MeanReversionV1:main", "Momentum:other"],
    "strategy.symbols": SYMBOLS,
}
PREVIEW_TASKS = ("preview", "preview-update:", "preview-reply:")


@dataclass
class Rig:
    slack: SlackFake
    main: Harness  # account main's order manager (its command core, served over NATS)
    wall: WallClock  # the gateway's confirmations' clock

    async def request(self, text: str) -> Message:
        return await request(self.slack, text)

    async def click(self, message: Message, action: str) -> None:
        await click(self.slack, message, action)


async def request(slack: SlackFake, text: str, within: float = 5.0) -> Message:
    """A command that asks to confirm: the confirmation it posted."""
    before = set(slack.messages)
    envelope = await slack.send_slash_command(text, user_id="U1")
    await envelope.acked()
    await eventually(lambda: set(slack.messages) - before, within=within)
    (ts,) = set(slack.messages) - before
    return slack.messages[ts]


async def click(slack: SlackFake, message: Message, action: str) -> None:
    edits = message.edits
    envelope = await slack.send_block_action(message.ts, action, nonce(message), "U1")
    await envelope.acked()
    await eventually(lambda: message.edits > edits)


@asynccontextmanager
async def rig_with(
    tmp_path: Path, nats_server: LocalNats, history: SessionSource, **config: object
) -> AsyncIterator[Rig]:
    slack = SlackFake()
    await slack.__aenter__()
    settings = load_settings(write_config(tmp_path, **CLUSTER_KEYS, **config))
    cfg = cluster_config(settings)
    (tmp_path / "main").mkdir()
    main = make_harness(tmp_path / "main", history=history, **CLUSTER_KEYS, **config)
    clients: list[Client] = []
    for user in (oms_user("main"), GATEWAY):
        clients.append(await nats_server.connect(user))
    served = await serve_commands(clients[0], "main", main.core)
    journal = Journal(tmp_path / "gateway.db")
    journal.start()
    wall = WallClock()
    core = GatewayCore(
        clients[1], cfg, Confirmations(wall, False), journal, SystemClock(), kill_ttl_sec=60
    )
    policy = Policy(frozenset({"U1"}), frozenset(), frozenset({"C1"}), "C2")
    surface = GatewaySurface(core, policy, "xoxb-test", "xapp-test", slack.api_url, "C2", 0)
    await surface.start()
    await slack.wait_connected(1)
    try:
        yield Rig(slack, main, wall)
    finally:
        await surface.stop()
        await served.unsubscribe()
        await main.service.stop()
        for client in clients:
            await client.close()
        journal.close()
        main.journal.close()
        await slack.__aexit__()


def shows(message: Message, text: str) -> Callable[[], bool]:
    return lambda: any(text in str(block) for block in message.blocks)


def first_posted(slack: SlackFake, text: str = "") -> str:
    """The latest confirmation as first posted in C1 (before any update), if it has `text`."""
    posts = [
        c.params
        for c in slack.calls_to("chat.postMessage")
        if c.params.get("channel") == "C1" and not c.params.get("thread_ts")
    ]
    posted = str(posts[-1])
    return posted if text in posted else ""


def has_buttons(message: Message) -> bool:
    return any(block["type"] == "actions" for block in message.blocks)


def previews_running() -> bool:
    """A preview's backtest, its reply over NATS or its update of a message, still going."""
    return any(t.get_name().startswith(PREVIEW_TASKS) for t in asyncio.all_tasks())
