"""Alert threads Slack refuses: every text fits what Slack takes, a final refusal is dropped
after one log line and never holds the queue, a transient one waits only for its own
incident. The REAL slack_sdk client against the loopback Slack."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.alerts import AlertPoster
from tests.fakes.slack import MAX_SECTION_TEXT, Message, SlackFake
from tests.slack_rig import Rig
from tests.support import eventually

CHANNEL = "C-ALERTS"
SHORTENED = re.compile(r"\.\.\. \((\d+) more characters in the journal\)")


@dataclass
class Alerts:
    slack: SlackFake
    poster: AlertPoster

    def roots(self) -> list[Message]:
        return sorted(
            (m for m in self.slack.messages.values() if m.channel == CHANNEL and not m.thread_ts),
            key=lambda m: m.ts,
        )

    def tries(self, marker: str) -> int:
        return sum(marker in str(c.params.get("text", "")) for c in self.slack.calls)


@pytest.fixture
async def alerts() -> AsyncIterator[Alerts]:
    """An AlertPoster running on a client set up as the Slack surface sets up its own."""
    async with SlackFake() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
        poster = AlertPoster(client, CHANNEL, min_reply_interval=0.0, first_backoff=0.01)
        task = asyncio.create_task(poster.run())
        try:
            yield Alerts(slack, poster)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def cut(text: str) -> tuple[str, int]:
    """(what a shortened text shows before its marker, how many characters it left out)."""
    match = SHORTENED.search(text)
    assert match is not None, text[-80:]
    return text[: match.start()], int(match[1])


def logged(caplog: pytest.LogCaptureFixture, word: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.slack.alerts" and word in r.getMessage()]


async def test_a_long_incident_is_shortened_and_the_next_one_still_reaches_slack(
    rig: Rig,
) -> None:
    """A failure whose repr is past a section's 3,000 characters: its root is cut, says how
    many characters the journal has beyond it, and the incident raised after it is posted."""
    service = rig.h.service
    service.report_error("job-health", ValueError("x" * 5000))
    service.alert("feed-stale", "critical", "last bar is 400s old")
    await eventually(lambda: len(_roots(rig, "C2")) == 2)
    long, short = _roots(rig, "C2")
    assert "`feed-stale` last bar is 400s old" in short.text
    assert len(long.text) <= MAX_SECTION_TEXT and long.blocks[0]["text"]["text"] == long.text
    rig.h.journal.flush()
    (row,) = rig.h.journal.query(
        "select message from alerts where key = 'error:job-health:ValueError'"
    )
    whole = str(row["message"])
    head = "<!here> :rotating_light: `error:job-health:ValueError` "
    shown, left = cut(long.text)
    assert shown.startswith(head) and whole.startswith(shown.removeprefix(head))
    assert len(shown) - len(head) + left == len(whole) > 5000


async def test_long_replies_resolutions_and_notices_fit(alerts: Alerts) -> None:
    """A 50,000-character update (Slack: msg_too_long), a resolution whose root would carry it
    (invalid_blocks) and a long notice are each posted, cut with the marker."""
    poster, slack = alerts.poster, alerts.slack
    poster.raise_alert("drawdown", "critical", "drawdown 16%")
    poster.raise_alert("drawdown", "critical", "<" * 50_000)
    poster.resolve_alert("drawdown", "back to 9% " + "y" * 4000)
    poster.notice("n" * 50_000)
    await eventually(lambda: poster.pending == 0)
    root, notice = alerts.roots()
    assert root.text.startswith(":white_check_mark: RESOLVED `drawdown`: &lt;&lt;")
    update, resolved = slack.thread(root.ts)
    assert resolved.text.startswith("Resolved: back to 9% yyy")
    for message in (root, update, resolved, notice):
        assert len(message.text) <= MAX_SECTION_TEXT
    shown, left = cut(update.text)
    assert set(shown.split("&lt;")) == {""} and left == 50_000 - shown.count("&lt;")
    shown, left = cut(notice.text)
    assert set(shown) == {"n"} and left == 50_000 - len(shown)


@pytest.mark.parametrize("error", ["msg_too_long", "restricted_action", "invalid_auth"])
async def test_a_final_refusal_is_logged_once_and_the_next_alert_is_posted(
    alerts: Alerts, caplog: pytest.LogCaptureFixture, error: str
) -> None:
    """Slack refuses one incident in a way that sending it again cannot change: it is tried
    once, logged in one line without a traceback, and the incident behind it is posted."""
    alerts.slack.refuse_texts["doomed"] = (200, error)
    alerts.poster.raise_alert("doomed", "critical", "doomed to be refused")
    alerts.poster.raise_alert("feed-stale", "warning", "last bar is 400s old")
    await eventually(lambda: alerts.roots())
    await eventually(lambda: alerts.poster.pending == 0)
    assert "feed-stale" in alerts.roots()[0].text and alerts.tries("doomed") == 1
    (line,) = logged(caplog, "doomed")
    assert error in line.getMessage() and line.exc_info is None


async def test_alerts_to_a_channel_without_the_bot_are_dropped_not_piled_up(
    alerts: Alerts, caplog: pytest.LogCaptureFixture
) -> None:
    """Removed from the alerts channel, every alert is refused not_in_channel: each is tried
    once and logged, nothing waits; once invited back, the next alert is posted."""
    alerts.slack.channels_without_bot.add(CHANNEL)
    for key in ("feed-stale", "drawdown", "latency"):
        alerts.poster.raise_alert(key, "warning", f"{key} is bad")
    await eventually(lambda: alerts.poster.pending == 0)
    assert len(alerts.slack.calls_to("chat.postMessage")) == 3
    assert len(logged(caplog, "not_in_channel")) == 3
    alerts.slack.channels_without_bot.clear()
    alerts.poster.raise_alert("feed-stale", "warning", "feed-stale is still bad")
    await eventually(lambda: alerts.roots())


async def test_a_resolution_whose_root_was_deleted_does_not_hold_the_queue(
    alerts: Alerts,
) -> None:
    """Someone deleted an incident's root: its resolution (message_not_found) is dropped, the
    next incident is posted, and the same incident raised again opens a new thread."""
    poster, slack = alerts.poster, alerts.slack
    poster.raise_alert("feed-stale", "warning", "last bar is 400s old")
    await eventually(lambda: alerts.roots())
    slack.delete_message(alerts.roots()[0].ts)
    poster.resolve_alert("feed-stale", "bars again")
    poster.raise_alert("drawdown", "warning", "drawdown 16%")
    poster.raise_alert("feed-stale", "warning", "last bar is 900s old")
    await eventually(lambda: poster.pending == 0)
    assert [m.text for m in alerts.roots()] == [
        ":warning: `drawdown` drawdown 16%",
        ":warning: `feed-stale` last bar is 900s old",
    ]
    assert alerts.tries("RESOLVED `feed-stale`") == 1


async def test_refused_blocks_are_posted_as_plain_text(alerts: Alerts) -> None:
    """Slack refuses an incident's blocks once: the same text goes out at once without them,
    not the same blocks again after a backoff."""
    alerts.slack.fail_next("chat.postMessage", error="invalid_blocks")
    alerts.poster.raise_alert("feed-stale", "warning", "last bar is 400s old")
    await eventually(lambda: alerts.roots())
    (root,) = alerts.roots()
    assert root.text == ":warning: `feed-stale` last bar is 400s old" and root.blocks == []
    assert len(alerts.slack.calls_to("chat.postMessage")) == 2


async def test_a_transient_failure_holds_back_only_its_own_incident(alerts: Alerts) -> None:
    """One incident meets 500s: it is retried with backoff while another incident is posted;
    when Slack takes it, its root comes first and then its update, in its thread."""
    alerts.slack.refuse_texts["flaky"] = (500, "internal_error")
    alerts.poster.raise_alert("flaky", "warning", "flaky 1")
    alerts.poster.raise_alert("flaky", "warning", "flaky 2")
    alerts.poster.raise_alert("feed-stale", "warning", "last bar is 400s old")
    await eventually(lambda: alerts.roots())
    assert "feed-stale" in alerts.roots()[0].text
    await eventually(lambda: alerts.tries("flaky") >= 3)
    del alerts.slack.refuse_texts["flaky"]
    await eventually(lambda: alerts.poster.pending == 0)
    root = alerts.roots()[1]
    assert root.text == ":warning: `flaky` flaky 1"
    assert [m.text for m in alerts.slack.thread(root.ts)] == ["flaky 2"]


async def test_an_update_that_met_an_outage_is_posted_when_slack_is_back(alerts: Alerts) -> None:
    """A thread reply refused with a 503 is sent again, not taken as already shown."""
    alerts.poster.raise_alert("feed-stale", "warning", "last bar is 400s old")
    await eventually(lambda: alerts.roots())
    alerts.slack.fail_next("chat.postMessage", status=503, error="service_unavailable")
    alerts.poster.raise_alert("feed-stale", "warning", "last bar is 900s old")
    await eventually(lambda: alerts.poster.pending == 0)
    (root,) = alerts.roots()
    assert [m.text for m in alerts.slack.thread(root.ts)] == ["last bar is 900s old"]


def _roots(rig: Rig, channel: str) -> list[Message]:
    return sorted(
        (m for m in rig.slack.messages.values() if m.channel == channel and not m.thread_ts),
        key=lambda m: m.ts,
    )
