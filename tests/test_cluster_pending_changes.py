"""A change the order manager holds for the gateway never outlives the gateway's confirmation:
expired, it is dropped at the order manager too (its backtest stopped, a late confirm refused as
expired); a confirmation Slack would not post is withdrawn there as well. On a real
nats-server, the real gateway core and surface on the loopback Slack (real slack_bolt /
slack_sdk), and the order manager's core served as `tradebot oms` serves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ops.cluster.ask_account import RemoteConfirm, ask_change, confirm_change
from ops.cluster.commands import AccountRefused
from ops.cluster.credentials import GATEWAY
from ops.cluster.server import LocalNats
from ops.journal.journal import Journal
from ops.shared import messages
from tests.cluster_preview_rig import has_buttons, previews_running, rig_with, shows
from tests.preview_support import HeldSessions, recorded
from tests.support import eventually

SLOW = {"confirm.preview_timeout_sec": 600}  # a backtest stops only because it was dropped


def commands(journal: Journal) -> list[dict[str, Any]]:
    journal.flush()
    return journal.query("select user, command, outcome, detail, surface from commands")


async def test_an_expired_change_is_dropped_at_the_order_manager_and_its_backtest_stopped(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """Expired at the gateway and, by its own clock, at the order manager, whose history never
    answers: the order manager's sweep drops the change (audited "expired") and stops its
    backtest, rather than letting it run to its time limit; a confirm sent after the sweep is
    refused with the usual "expired" sentence, and nothing changed."""
    async with rig_with(tmp_path, nats_server, HeldSessions(recorded(days=5)), **SLOW) as rig:
        message = await rig.request("set entry_z 2.6 --account main")
        assert shows(message, "computing...")()
        nc = await nats_server.connect(GATEWAY)
        try:
            direct = await ask_change(nc, "main", "set entry_z 2.7", "U1", "C1", 5.0)
            assert isinstance(direct, RemoteConfirm) and direct.preview is not None
            assert previews_running()
            rig.wall.t += 3600
            rig.main.wall.t += 3600
            await eventually(lambda: not has_buttons(message), within=15)  # the gateway's sweep
            await eventually(lambda: not previews_running(), within=15)  # the order manager's
            expired = [r for r in commands(rig.main.journal) if r["outcome"] == "expired"]
            assert [r["command"] for r in expired] == ["set", "set"]
            late = await confirm_change(nc, "main", direct.nonce, "U1", "C1", 5.0)
        finally:
            await nc.close()
        assert late == AccountRefused("main", messages.EXPIRED.format(kind="set"))
        assert rig.main.service.engine.params.entry_z == 2.0


async def test_a_confirmation_slack_refuses_is_withdrawn_at_the_order_manager_too(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """Slack will not post the gateway's confirmation (the bot is not in the channel): the
    requester is told why and that nothing waits for a Confirm, and the order manager's pending
    change is cancelled there too (audited), its backtest stopped at once."""
    async with rig_with(tmp_path, nats_server, HeldSessions(recorded(days=5)), **SLOW) as rig:
        rig.slack.channels_without_bot.add("C1")
        envelope = await rig.slack.send_slash_command(
            "set entry_z 2.6 --account main", user_id="U1"
        )
        await envelope.acked()
        await eventually(lambda: any(messages.SLACK_WITHDRAWN in r["text"] for r in replies(rig)))
        said = next(r["text"] for r in replies(rig) if messages.SLACK_WITHDRAWN in r["text"])
        assert "not_in_channel" in said or "C1" in said
        await eventually(lambda: not previews_running())
        cancelled = [r for r in commands(rig.main.journal) if r["command"] == "cancel set"]
        assert [(r["user"], r["outcome"]) for r in cancelled] == [("U1", "ok")]
        assert rig.main.service.engine.params.entry_z == 2.0


def replies(rig: Any) -> list[dict[str, Any]]:
    return [r for r in rig.slack.responses if "text" in r]
