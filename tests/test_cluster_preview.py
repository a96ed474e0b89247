"""A cluster `set` through the gateway gets the single service's backtest preview: the account's
order manager's command core computes it on the sessions it has, the confirmation is posted at
once saying it is coming and updated with the figures (chat.update); a failing preview says so;
a click, cancel or expiry that comes first is never undone by a late one. On a real
nats-server, the real gateway core and surface on the loopback Slack (real slack_bolt /
slack_sdk), and the order manager's core served as `tradebot oms` serves it."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

import pytest
from nats.aio.client import Client

from bot.oms_cli import start_oms
from ops.cluster.acks import read_components
from ops.cluster.config import ClusterConfig, cluster_config
from ops.cluster.credentials import GATEWAY, INGEST, oms_user
from ops.cluster.gateway import GatewayCore
from ops.cluster.ingest import batches
from ops.cluster.server import LocalNats
from ops.config.settings import load_settings
from ops.control.confirm import Confirmations
from ops.journal.journal import Journal
from ops.shared.results import ConfirmRequest
from strategy.clock import SystemClock
from tests.cluster_preview_rig import (
    click,
    first_posted,
    has_buttons,
    previews_running,
    request,
    rig_with,
    shows,
)
from tests.fakes.slack import Message, SlackFake
from tests.preview_support import (
    SYMBOLS,
    BrokenSessions,
    HeldSessions,
    recorded,
    session_bars,
    write_csv,
)
from tests.support import (
    WallClock,
    eventually,
    spawn_tradebot,
    stop_tradebot,
    write_config,
)


async def test_a_cluster_set_is_updated_with_the_order_managers_figures(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The confirmation is posted at once with "computing..." and its buttons, then edited
    once with the backtest of the order manager's last 5 sessions, value now vs new; nothing
    changes until Confirm, which applies it in the order manager."""
    async with rig_with(tmp_path, nats_server, recorded(days=5)) as rig:
        message = await rig.request("set entry_z 2.6 --account main")
        assert shows(message, "main: set entry_z")()
        assert first_posted(rig.slack, "computing...") and "actions" in first_posted(rig.slack)
        await eventually(shows(message, "max drawdown"), within=60)
        for text in ("the last 5 sessions (2026-01-07 .. 2026-01-13", "round trips", "P&amp;L"):
            assert shows(message, text)(), text
        assert has_buttons(message) and message.edits == 1
        assert "round trips" in message.text  # the fallback too
        assert rig.main.service.engine.params.entry_z == 2.0
        await rig.click(message, "confirm")
        await eventually(lambda: "main: entry_z changed 2 -> 2.6 by U1" in message.text)
        assert rig.main.service.engine.params.entry_z == 2.6


async def test_a_failing_preview_says_so_and_confirm_still_works(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The order manager's history cannot be read: the confirmation says the preview failed
    and why, no traceback, and Confirm still applies the change."""
    async with rig_with(tmp_path, nats_server, BrokenSessions()) as rig:
        message = await rig.request("set entry_z 2.6 --account main")
        await eventually(shows(message, "backtest preview failed"))
        assert shows(message, "RuntimeError: history store unreachable")()
        assert not shows(message, "Traceback")() and has_buttons(message)
        await rig.click(message, "confirm")
        await eventually(lambda: rig.main.service.engine.params.entry_z == 2.6)


@pytest.mark.parametrize("settle", ["confirm", "cancel", "expiry"])
async def test_a_late_preview_never_reopens_a_settled_confirmation(
    tmp_path: Path, nats_server: LocalNats, settle: str
) -> None:
    """Confirmed, cancelled or expired before the backtest is done: the message is closed
    (no buttons) and stays so once the history answers; the backtest is stopped."""
    held = HeldSessions(recorded(days=5))
    async with rig_with(tmp_path, nats_server, held) as rig:
        message = await rig.request("set entry_z 2.6 --account main")
        assert shows(message, "computing...")()
        if settle == "expiry":
            rig.wall.t += 3600
            await eventually(lambda: not has_buttons(message), within=15)  # the 5 s sweep
        else:
            await rig.click(message, settle)
        closed = message.edits
        held.release.set()
        await eventually(lambda: not previews_running())
        assert message.edits == closed and not has_buttons(message)
        assert not shows(message, "max drawdown")()
        expected = 2.6 if settle == "confirm" else 2.0
        assert rig.main.service.engine.params.entry_z == expected


async def test_the_order_manager_previews_on_the_sessions_its_marks_brought(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """`tradebot oms` on the simulator records every bar it is sent (not only its positions'):
    after a whole session on NATS, a `set` through the gateway core comes with that session's
    backtest, value now vs new."""
    config = write_config(
        tmp_path, **{"cluster.nats_url": nats_server.url, "strategy.symbols": SYMBOLS}
    )
    running = await start_oms("main", config, nats_server.env(oms_user("main")))
    admin = await nats_server.connect()
    gateway_nc = await nats_server.connect(GATEWAY)
    journal = Journal(tmp_path / "gateway.db")
    journal.start()
    try:
        js = admin.jetstream()
        session = session_bars(1)  # 2026-01-13, 09:30-16:00 New York
        for minute in sorted({b.ts for b in session}):
            for batch in batches([b for b in session if b.ts == minute], 16):
                await js.publish(batch.subject, batch.data, headers=batch.headers)
        history = running.venue.history
        assert history is not None

        async def recorded_session() -> bool:
            return (await history.last(5)).dates == ("2026-01-13",)

        await eventually(recorded_session, within=60)
        cfg = cluster_config(load_settings(config))
        core = GatewayCore(
            gateway_nc, cfg, Confirmations(WallClock(), False), journal, SystemClock(), 60
        )
        request = await core.handle("set entry_z 2.6", "U1", "C1", "test")
        assert isinstance(request, ConfirmRequest)
        ticket = core.changes.take_preview(request.nonce)
        assert ticket is not None and "computing..." in ticket.pending
        preview = await asyncio.wait_for(ticket.task, 60)
        assert preview.problem is None, preview.problem
        assert preview.dates == ("2026-01-13",) and preview.old and preview.new
        assert any("round trips" in line for line in preview.lines)
        assert running.service.settings.get("strategy.entry_z_threshold") == 2.0
    finally:
        await running.stop()
        for client in (admin, gateway_nc):
            await client.close()
        journal.close()


async def test_the_real_roles_preview_a_set_on_the_session_the_ingestor_sent(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """`tradebot oms`, `tradebot gateway` (on the loopback Slack) and `tradebot ingest --data`
    replaying a whole session, each its own process: once the order manager has that session,
    `/trade set entry_z 2.6` is posted with "computing..." and updated with its backtest."""
    config = write_config(
        tmp_path,
        **{
            "cluster.nats_url": nats_server.url,
            "strategy.symbols": SYMBOLS,
            "slack.operators": ["U1"],
            "slack.allowed_channels": ["C1"],
        },
    )
    cfg = cluster_config(load_settings(config))
    day = write_csv(tmp_path / "day.csv", session_bars(1))  # 2026-01-13
    admin = await nats_server.connect()
    async with SlackFake() as slack:
        roles = [
            await spawn_tradebot(
                None,
                "oms",
                "--account",
                "main",
                "--config",
                str(config),
                **nats_server.env(oms_user("main")),
            ),
            await spawn_tradebot(
                None,
                "gateway",
                "--config",
                str(config),
                SLACK_BOT_TOKEN="xoxb-test",
                SLACK_APP_TOKEN="xapp-test",
                SLACK_API_URL=slack.api_url,
                **nats_server.env(GATEWAY),
            ),
        ]
        try:
            up = {"oms.main", "gateway.slack"}
            await eventually(lambda: heartbeating(admin, cfg, up), within=60)
            await slack.wait_connected(1, within=30)
            ingest = await spawn_tradebot(
                None,
                "ingest",
                "--data",
                str(day),
                "--speed",
                "0",
                "--config",
                str(config),
                **nats_server.env(INGEST),
            )
            _, err = await asyncio.wait_for(ingest.communicate(), 120)
            assert ingest.returncode == 0, err.decode()[-2000:]
            message = await request(slack, "set entry_z 2.6", within=30)
            assert first_posted(slack, "computing...") and "actions" in first_posted(slack)
            await eventually(partial(settled, message), within=60)
            while shows(message, "no history yet")():  # asked before it had the last bars
                await click(slack, message, "cancel")
                message = await request(slack, "set entry_z 2.6", within=30)
                await eventually(partial(settled, message), within=60)
            assert shows(message, "1 of 5 sessions available (2026-01-13,")(), message.text
            assert shows(message, "max drawdown")() and has_buttons(message)
        finally:
            outputs = [await stop_tradebot(proc) for proc in roles]
            await admin.close()
    for proc, (_, err) in zip(roles, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]


def settled(message: Message) -> bool:
    """The preview came: figures, or that there is no session yet."""
    return shows(message, "max drawdown")() or shows(message, "no history yet")()


async def heartbeating(nc: Client, cfg: ClusterConfig, keys: set[str]) -> bool:
    return keys <= {c.key for c in await read_components(nc.jetstream(), cfg)}
