"""The Slack surface through the REAL slack_bolt / slack_sdk clients and the loopback Slack."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.account import watched_parts
from bot.slack.surface import SlackSurface
from ops.watch.monitor import Monitor
from strategy.types import (
    BrokerPosition,
    TradingState,
)
from strategy.venues.sim import SimBroker
from tests.slack_rig import Rig, nonce, start_rig
from tests.support import bar, eventually, make_harness
from tests.test_commands import open_spy_position


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("status", "MeanReversionV1 on sim: ACTIVE"),
        ("pnl week", "P&L week"),
        ("positions", "symbol"),
        ("reconcile", "reconciled: book and broker agree"),
        ("config", "strategy.entry_z_threshold (entry_z)"),
        ("slippage", "no fills yet"),
        ("HELP", "kill"),
    ],
)
async def test_each_read_command_answers_privately_with_blocks(
    rig: Rig, text: str, fragment: str
) -> None:
    """Acked at once, answered via response_url as ephemeral Block Kit with a text fallback."""
    response = await rig.command(text)
    assert fragment in response["text"]
    assert response["response_type"] == "ephemeral"
    assert response["blocks"][0]["type"] == "section"


async def test_here_answers_in_channel(rig: Rig) -> None:
    """`/trade status here` is posted for the whole channel."""
    response = await rig.command("status here")
    assert response["response_type"] == "in_channel"


async def test_bad_input_gets_usage_and_changes_nothing(rig: Rig) -> None:
    """Unknown subcommand and a bad value: one-line warnings, no traceback, nothing changed."""
    assert "usage:" in (await rig.command("launch"))["text"]
    bad = await rig.command("set entry_z lots")
    assert "'lots' is not a number" in bad["text"]
    assert "Traceback" not in bad["text"]
    assert rig.h.service.engine.params.entry_z == 2.0


async def test_set_confirm_applies_updates_the_message_and_audits(rig: Rig) -> None:
    """The confirmation shows old -> new; Confirm applies it and edits the message in place."""
    message = await rig.request("set entry_z 2.2")
    assert "strategy.entry_z_threshold: 2 -&gt; 2.2" in message.blocks[0]["text"]["text"]
    assert rig.h.service.engine.params.entry_z == 2.0
    await rig.click(message, "confirm")
    assert rig.h.service.engine.params.entry_z == 2.2
    assert "entry_z changed 2 -> 2.2 by U1" in message.text
    assert not any(b["type"] == "actions" for b in message.blocks)
    rig.h.journal.flush()
    audit = rig.h.journal.query("select command, outcome, surface from commands")
    assert {"command": "confirm set", "outcome": "ok", "surface": "slack"} in audit


async def test_double_click_expiry_and_wrong_user(rig: Rig) -> None:
    """A second click, someone else's click and a click after expiry are refused."""
    first = await rig.request("set exit_z 0.4")
    await rig.click(first, "confirm", user="U2")
    assert "only <@U1>" in rig.slack.responses[-1]["text"]
    assert rig.h.service.engine.params.exit_z == 0.5
    await rig.click(first, "confirm")
    await rig.click(first, "confirm")
    assert "no longer valid" in rig.slack.responses[-1]["text"]
    second = await rig.request("set exit_z 0.3")
    rig.h.wall.t += 301
    await rig.click(second, "confirm")
    assert "expired" in rig.slack.responses[-1]["text"]
    assert second.text == "Expired: nothing was changed"
    assert rig.h.service.engine.params.exit_z == 0.4


async def test_unexpired_confirmations_are_swept_and_marked(rig: Rig) -> None:
    """The expiry sweep edits a forgotten confirmation to say it expired."""
    message = await rig.request("set cooldown 30")
    rig.h.wall.t += 301
    await rig.surface.listeners.expire(rig.surface.client)
    assert message.text == "Expired: nothing was changed"


async def test_four_eyes_needs_another_operator(tmp_path: Path) -> None:
    """With four_eyes on, the requester's click is refused and another operator's applies."""
    slack, h, surface = await start_rig(tmp_path, **{"slack.four_eyes": True})
    rig = Rig(slack, h, surface)
    try:
        message = await rig.request("set max_qty 50")
        await rig.click(message, "confirm", user="U1")
        assert "different operator" in slack.responses[-1]["text"]
        await rig.click(message, "confirm", user="U2")
        assert h.service.engine.params.max_qty == 50
        assert "by U2 (asked by U1)" in message.text
    finally:
        await surface.stop()
        await h.service.stop()
        await slack.__aexit__()


async def test_unauthorized_user_and_channel_are_refused_and_audited(rig: Rig) -> None:
    """A non-operator cannot change things; any command from another channel is refused."""
    refused = await rig.command("pause", user="U9")
    assert "is not an operator" in refused["text"]
    elsewhere = await rig.command("status", channel="C9")
    assert "channel is not allowed" in elsewhere["text"]
    assert rig.h.service.gate.state is TradingState.ACTIVE
    rig.h.journal.flush()
    outcomes = rig.h.journal.query("select user, outcome from commands where outcome != 'ok'")
    assert {"user": "U9", "outcome": "unauthorized"} in outcomes


async def test_kill_confirm_flattens_and_reports_each_position_in_the_thread(rig: Rig) -> None:
    """Kill lists positions, halts on Confirm, ends flat, and threads the per-position report."""
    qty = await open_spy_position(rig.h)
    message = await rig.request("kill")
    assert f"close SPY: +{qty} shares" in message.blocks[0]["text"]["text"]

    async def market() -> None:
        minute = 22
        while True:
            await rig.h.push(bar("SPY", minute, 97.9))
            minute += 1
            await asyncio.sleep(0.01)

    await rig.click(message, "confirm")
    await eventually(lambda: rig.h.service.gate.state is TradingState.HALTED)
    moving = asyncio.create_task(market())  # flatten orders fill on the next bars
    try:
        await eventually(lambda: message.text.startswith("KILL: FLAT"))
    finally:
        moving.cancel()
    assert rig.h.service.gate.state is TradingState.HALTED
    assert await rig.h.broker.positions() == []
    (report,) = rig.slack.thread(message.ts)
    assert f"SPY    closed {qty} of +{qty} @" in report.text and "slippage" in report.text


async def test_a_429_on_post_message_is_retried(rig: Rig) -> None:
    """Slack rate limits the confirmation post once; slack_sdk's retry handler posts it."""
    rig.slack.fail_next("chat.postMessage", status=429, retry_after=1)
    message = await rig.request("set lookback 30")
    assert len(rig.slack.calls_to("chat.postMessage")) == 2
    assert message.blocks[0]["text"]["text"].startswith("*set lookback")


async def test_a_socket_mode_disconnect_is_survived(rig: Rig) -> None:
    """After Slack asks the client to reconnect, the next command still works."""
    await rig.slack.disconnect_clients()
    await rig.slack.wait_connected(2)
    response = await rig.command("status")
    assert "ACTIVE" in response["text"]


async def test_alert_root_thread_repeat_and_resolution(rig: Rig) -> None:
    """One root per incident (@here when critical), repeats in its thread, resolution edits it."""
    service = rig.h.service
    service.alert("drawdown", "critical", "drawdown 16% above 15%")
    await eventually(lambda: any(m.channel == "C2" for m in rig.slack.messages.values()))
    (root,) = [m for m in rig.slack.messages.values() if m.channel == "C2"]
    assert root.text.startswith("<!here> :rotating_light: `drawdown`")
    service.alert("drawdown", "critical", "drawdown 17% above 15%")
    await eventually(lambda: len(rig.slack.thread(root.ts)) == 1)
    service.resolve("drawdown", "drawdown back to 9%")
    await eventually(lambda: root.edits == 1)
    await eventually(lambda: len(rig.slack.thread(root.ts)) == 2)  # may follow the edit
    assert root.text.startswith(":white_check_mark: RESOLVED `drawdown`")
    assert rig.slack.thread(root.ts)[-1].text == "Resolved: drawdown back to 9%"


async def test_an_incident_is_acknowledged_and_a_mismatch_adopted_from_its_buttons(
    rig: Rig,
) -> None:
    """Acknowledge records who took it; Adopt asks for a confirmation in the alerts channel,
    which only an operator may press."""
    h = rig.h
    await h.push(bar("SPY", 0, 100.0))
    await h.buy_behind_the_books_back("SPY", 3, 100.0)
    await h.push(bar("SPY", 1, 100.0))
    await rig.command("reconcile")
    await eventually(lambda: any(m.channel == "C2" for m in rig.slack.messages.values()))
    (root,) = [m for m in rig.slack.messages.values() if m.channel == "C2"]
    buttons = [e["action_id"] for b in root.blocks if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["ack", "adopt"]

    outsider = await rig.slack.send_block_action(root.ts, "ack", "reconcile:SPY", "U9", "C2")
    await outsider.acked()
    await eventually(lambda: any("not an operator" in r["text"] for r in rig.slack.responses))
    envelope = await rig.slack.send_block_action(root.ts, "ack", "reconcile:SPY", "U2", "C2")
    await envelope.acked()
    await eventually(lambda: "acknowledged by <@U2>" in root.text)
    assert rig.slack.thread(root.ts)[-1].text == "Acknowledged by <@U2>"

    before = set(rig.slack.messages)
    envelope = await rig.slack.send_block_action(root.ts, "adopt", "SPY", "U1", "C2")
    await envelope.acked()
    await eventually(lambda: set(rig.slack.messages) - before)
    (ask_ts,) = set(rig.slack.messages) - before
    ask = rig.slack.messages[ask_ts]
    assert ask.channel == "C2" and "adopt SPY: book +0 -> broker +3" in ask.text
    envelope = await rig.slack.send_block_action(ask_ts, "confirm", nonce(ask), "U1", "C2")
    await envelope.acked()
    await eventually(lambda: h.service.book.position_qty("SPY") == 3)
    await eventually(lambda: root.text.startswith(":white_check_mark: RESOLVED `reconcile:SPY`"))


async def test_after_a_restart_an_open_incident_keeps_its_thread(tmp_path: Path) -> None:
    """No second root for the same incident: its resolution edits the first one."""
    slack, h, surface = await start_rig(tmp_path)
    h.service.alert("feed-stale", "critical", "last bar is 400s old")
    await eventually(lambda: any(m.channel == "C2" for m in slack.messages.values()))
    await surface.stop()
    await h.service.stop()

    again = make_harness(tmp_path, **{"slack.api_url": slack.api_url, "slack.alerts_channel": "C2"})
    await again.service.start()
    revived = SlackSurface(again.core, "xoxb-test", "xapp-test")
    await revived.start()
    try:
        again.service.resolve("feed-stale", "bars again")
        (root,) = [m for m in slack.messages.values() if m.channel == "C2"]
        await eventually(lambda: root.text.startswith(":white_check_mark: RESOLVED `feed-stale`"))
        await eventually(lambda: slack.thread(root.ts))  # the reply may follow the edit
        roots = [m for m in slack.messages.values() if m.channel == "C2" and not m.thread_ts]
        assert roots == [root] and slack.thread(root.ts)[-1].text == "Resolved: bars again"
    finally:
        await revived.stop()
        await again.service.stop()
        await slack.__aexit__()


async def test_alerts_wait_out_a_slack_outage(rig: Rig) -> None:
    """With Slack down, trading goes on and the alert is delivered once Slack is back."""
    rig.slack.unreachable = True
    rig.h.service.alert("feed-stale", "critical", "last bar is 400s old")
    await eventually(lambda: len(rig.slack.calls_to("chat.postMessage")) >= 1)
    assert rig.surface.alerts.pending == 1
    rig.slack.unreachable = False
    await eventually(lambda: rig.surface.alerts.pending == 0, within=10)
    assert any("feed-stale" in m.text for m in rig.slack.messages.values())


async def test_a_lost_slack_connection_is_an_incident_and_can_pause_entries(
    tmp_path: Path,
) -> None:
    """Down: a `slack` incident at once; down longer than pause_on_slack_lost_sec: the
    dead-man pauses entries; back: both resolved and entries resume."""
    slack, h, surface = await start_rig(tmp_path, **{"monitoring.pause_on_slack_lost_sec": 0.1})
    monitor = Monitor(watched_parts(h.service))
    await h.push(bar("SPY", 0, 100.0))
    try:
        await surface.check_connection()
        assert "slack" not in h.service.open_alerts
        slack.unreachable = True
        await slack.drop_connections()
        await asyncio.sleep(0.2)
        await surface.check_connection()
        assert "slack" in h.service.open_alerts
        await asyncio.sleep(0.15)
        await surface.check_connection()
        assert "slack-lost" in h.service.open_alerts
        await monitor.run()
        assert h.service.gate.state is TradingState.PAUSED

        slack.unreachable = False
        await eventually(surface.handler.client.is_connected, within=20)
        await surface.check_connection()
        assert not {"slack", "slack-lost"} & set(h.service.open_alerts)
        await monitor.run()
        assert h.service.gate.state is TradingState.ACTIVE
    finally:
        await surface.stop()
        await h.service.stop()
        await slack.__aexit__()


async def test_heartbeat_edits_one_status_message(rig: Rig) -> None:
    """The status board posts once, then keeps that message current with chat.update."""
    await rig.surface.board.update()
    await rig.surface.board.update()
    (board,) = [m for m in rig.slack.messages.values() if m.channel == "C1"]
    assert board.edits == 1 and "MeanReversionV1" in board.text


async def test_a_status_board_slack_refuses_is_posted_anew_or_logged_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone deleted the status message: the next heartbeat posts a new one. The bot is not
    in the channel: one warning line, however many heartbeats, and no error incident."""
    await rig.surface.heartbeat()
    (first,) = [m for m in rig.slack.messages.values() if m.channel == "C1"]
    rig.slack.delete_message(first.ts)
    await rig.surface.heartbeat()
    (second,) = [m for m in rig.slack.messages.values() if m.channel == "C1"]
    assert second.ts != first.ts and "MeanReversionV1" in second.text

    rig.slack.channels_without_bot.add("C1")
    await rig.surface.heartbeat()
    await rig.surface.heartbeat()
    (warning,) = [r for r in caplog.records if "status board" in r.getMessage() and r.levelno >= 30]
    assert "not_in_channel" in warning.getMessage() and warning.exc_info is None
    assert not [k for k in rig.h.service.open_incidents() if k.startswith("error:")]
    rig.slack.channels_without_bot.clear()
    await rig.surface.heartbeat()
    assert rig.slack.messages[second.ts].edits == 1


async def test_pnl_attaches_an_equity_chart(rig: Rig) -> None:
    """/trade pnl uploads a PNG with files_upload_v2."""
    await rig.h.push(*(bar("SPY", i, 100.0 + (i % 3) * 0.1) for i in range(30)))
    await rig.command("pnl")
    await eventually(lambda: rig.slack.calls_to("files.completeUploadExternal"))
    assert rig.slack.uploads[0].startswith(b"\x89PNG")
    assert rig.slack.calls_to("files.completeUploadExternal")[0].params["channel_id"] == "C1"


class BrokenPositions(SimBroker):
    async def positions(self) -> list[BrokerPosition]:
        raise RuntimeError("venue adapter bug")


async def test_a_bug_behind_a_command_is_an_incident_not_a_traceback(rig: Rig) -> None:
    rig.h.swap_broker(BrokenPositions)
    response = await rig.command("positions")
    key = "error:slack-command:RuntimeError"
    assert response["text"].startswith(f":x: something went wrong running that (incident `{key}`)")
    assert "Traceback" not in response["text"]
    assert key in rig.h.service.open_alerts
    await rig.command("positions")
    assert rig.h.service.open_alerts[key].endswith("(2 times so far)")


class SlowPositions(SimBroker):
    """A venue whose positions call waits until released."""

    release: asyncio.Event

    async def positions(self) -> list[BrokerPosition]:
        await self.release.wait()
        return await super().positions()


async def test_the_ack_comes_before_the_slow_work(rig: Rig) -> None:
    """/trade positions is acked while the broker is still answering."""
    broker = rig.h.swap_broker(SlowPositions)
    broker.release = asyncio.Event()
    before = len(rig.slack.responses)
    envelope = await rig.slack.send_slash_command("positions")
    await envelope.acked()
    assert len(rig.slack.responses) == before
    broker.release.set()
    await eventually(lambda: len(rig.slack.responses) > before)
