"""The App Home tab as a control panel: state, money, positions, incidents, heartbeat, and
Pause / Resume / Kill / Change settings buttons that run the same command core (and the same
confirmations, posted in `slack.channel`) as `/trade`.

The tab has no channel of its own: its buttons are authorized and their confirmations posted
as if typed in `slack.channel`. Anyone `decide` lets read sees the tab; only operators get the
buttons, and a forged click from anyone else is refused and audited like a command.

A tab Slack will not draw never escapes a listener (Bolt would lose the click's ack): it is one
log line until a tab is published again; a clicker whose tab it is reads what happened as an
ephemeral message in `slack.channel`; and while the app's Home is off (`not_enabled`) the
heartbeat draws nothing until someone opens Home and it works.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock
from slack_sdk.models.views import View

from bot.slack.authz import Policy, decide
from bot.slack.home_view import ACK, KILL, PAUSE, RESUME, SETTINGS, HomeFacts, home_view
from bot.slack.replies import Replies
from bot.slack.told import Told, tell_privately
from ops.control.commands import CommandCore
from ops.shared import messages
from ops.shared.results import CommandError, ConfirmRequest, Done

log = logging.getLogger(__name__)
MAX_VIEWERS = 100  # the tab is refreshed for the users who opened it most recently
NOT_ENABLED = "not_enabled"  # Slack's answer to views.publish while the app's Home tab is off
PostConfirmation = Callable[[Replies, str, ConfirmRequest], Awaitable[bool]]
OpenSettings = Callable[[str, str, str], Awaitable[str | None]]
NO_CHANNEL = (
    "slack.channel is not set, so there is nowhere to post the confirmation; "
    "use `/trade {command}` in a channel"
)


class HomeTab:
    def __init__(
        self,
        core: CommandCore,
        policy: Policy,
        client: Any,
        channel: str,
        post_confirmation: PostConfirmation,
        open_settings: OpenSettings,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.core = core
        self.policy = policy
        self.channel = channel
        self.last_heartbeat: float | None = None
        self.max_viewers = MAX_VIEWERS
        self._client = client
        self._post_confirmation = post_confirmation
        self._open_settings = open_settings
        self._now = now
        self._viewers: OrderedDict[str, str | None] = OrderedDict()  # user -> pending notice
        self._refused: dict[str, str] = {}  # user -> Slack's error, until their tab is drawn
        self._home_off = False  # Slack answered not_enabled; until a tab is drawn again

    def register(self, app: AsyncApp) -> None:
        app.event("app_home_opened")(self.on_opened)
        for action in (PAUSE, RESUME, KILL, ACK):
            app.action(action)(self.on_button)
        app.action(SETTINGS)(self.on_settings)

    @property
    def viewers(self) -> tuple[str, ...]:
        return tuple(self._viewers)

    async def on_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab") != "home":
            return
        self._remember(event["user"])
        await self.publish(event["user"])

    async def on_button(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        action = body["actions"][0]
        command = {PAUSE: "pause", RESUME: "resume", KILL: "kill"}.get(action["action_id"])
        text = command or f"ack {action['value']}"
        await self._answer(user, await self._run(text, user))
        await self.refresh(besides=user)

    async def on_settings(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        problem = (
            NO_CHANNEL.format(command="set")
            if not self.channel
            else await self._open_settings(body["trigger_id"], user, self.channel)
        )
        if problem is not None:
            await self._answer(user, f":warning: {problem}")

    async def heartbeat(self) -> None:
        """Called with each status-board refresh: note the time, redraw every open tab."""
        self.last_heartbeat = self._now()
        await self.refresh()

    async def refresh(self, besides: str | None = None) -> None:
        """Redraw the open tabs (but `besides`'s), none while Slack says Home is off."""
        for user in self.viewers:
            if self._home_off:
                return
            if user != besides:
                await self.publish(user)

    async def publish(self, user: str) -> str | None:
        """Draw `user`'s tab: None when Slack took it, otherwise Slack's error."""
        notice = self._viewers.get(user)
        if user in self._viewers:
            self._viewers[user] = None  # a notice is shown once
        try:
            await self._client.views_publish(user_id=user, view=self._view(user, notice))
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            self._note_refused(user, error)
            return error
        if self._refused.pop(user, None) is not None or self._home_off:
            log.info("App Home for %s is drawn again", user)
        self._home_off = False
        return None

    def _note_refused(self, user: str, error: str) -> None:
        """One line per refusal, not one per heartbeat: quiet until the tab is drawn again."""
        if error == NOT_ENABLED:
            if not self._home_off:
                log.warning(
                    "views.publish: Slack answered not_enabled (the app's Home tab is off): "
                    "tabs are not redrawn until someone opens Home and it works"
                )
            self._home_off = True
        elif self._refused.get(user) != error:
            log.warning("views.publish of the App Home for %s refused: %s", user, error)
        self._refused[user] = error

    async def _answer(self, user: str, notice: str) -> None:
        """What happened to a click, on the clicker's tab; if Slack will not draw it, as an
        ephemeral message in `slack.channel`."""
        self._remember(user, notice)
        error = await self.publish(user)
        if error is None:
            return
        text = f"{notice}\n{messages.SLACK_HOME_REFUSED.format(error=error)}"
        if not self.channel:
            log.warning("nowhere to tell %s (slack.channel is not set): %s", user, text)
            return
        await tell_privately(self._client, self.channel, user, text)

    def _view(self, user: str, notice: str | None) -> View:
        refusal = decide(self.policy, user, self.channel, "status")
        if refusal is not None:
            return View(
                type="home",
                blocks=[SectionBlock(text=MarkdownTextObject(text=f":no_entry: {refusal}"))],
            )
        facts = HomeFacts(
            operator=decide(self.policy, user, self.channel, "pause") is None,
            notice=notice,
            last_heartbeat=self.last_heartbeat,
            now=self._now(),
        )
        return home_view(self.core.queries.status(), self.core.incidents.all(), facts)

    def _remember(self, user: str, notice: str | None = None) -> None:
        self._viewers[user] = notice
        self._viewers.move_to_end(user)
        while len(self._viewers) > self.max_viewers:
            forgotten, _ = self._viewers.popitem(last=False)
            self._refused.pop(forgotten, None)

    async def _run(self, text: str, user: str) -> str:
        """Run one button's command as `user` in `slack.channel`; the notice to show them."""
        channel = self.channel
        command = text.split()[0]
        refusal = decide(self.policy, user, channel, command)
        if refusal is not None:
            self.core.audit(user, channel, "slack-home", text, "unauthorized", refusal)
            return f":warning: {refusal}"
        if command in ("kill", "resume") and not channel:
            return f":warning: {NO_CHANNEL.format(command=command)}"
        try:
            result = await self.core.handle(text, user, channel, "slack-home")
        except CommandError as exc:
            return f":warning: {exc}"
        except Exception as exc:
            incident = f"error:slack-home:{type(exc).__name__}"
            self.core.incidents.report_error("slack-home", exc)
            self.core.audit(user, channel, "slack-home", text, "error", incident)
            return f":x: something went wrong (incident `{incident}`); the journal has the trace"
        if isinstance(result, ConfirmRequest):
            told = Told(self._client)
            if not await self._post_confirmation(told, channel, result):  # withdrawn
                return f":warning: {told.text}"
            return f":hourglass_flowing_sand: {result.title}: confirm or cancel it in <#{channel}>"
        if isinstance(result, Done):
            return f":white_check_mark: {result.title}"
        return f":white_check_mark: {text}: done"
