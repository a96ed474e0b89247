"""The App Home tab as a control panel: state, money, positions, incidents, heartbeat, and
Pause / Resume / Kill / Change settings buttons that run the same command core (and the same
confirmations, posted in `slack.channel`) as `/trade`.

The tab has no channel of its own: its buttons are authorized and their confirmations posted
as if typed in `slack.channel`. Anyone `decide` lets read sees the tab; only operators get the
buttons, and a forged click from anyone else is refused and audited like a command.
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
from bot.slack.told import Told
from ops.commands import CommandCore
from ops.results import CommandError, ConfirmRequest, Done

log = logging.getLogger(__name__)
MAX_VIEWERS = 100  # the tab is refreshed for the users who opened it most recently
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
        self._remember(user, await self._run(text, user))
        await self.refresh()

    async def on_settings(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        problem = (
            NO_CHANNEL.format(command="set")
            if not self.channel
            else await self._open_settings(body["trigger_id"], user, self.channel)
        )
        if problem is not None:
            self._remember(user, f":warning: {problem}")
            await self.publish(user)

    async def heartbeat(self) -> None:
        """Called with each status-board refresh: note the time, redraw every open tab."""
        self.last_heartbeat = self._now()
        await self.refresh()

    async def refresh(self) -> None:
        for user in self.viewers:
            try:
                await self.publish(user)
            except SlackApiError as exc:  # one user's tab must not stop the others'
                log.warning("App Home refresh for %s failed: %s", user, exc.response.get("error"))

    async def publish(self, user: str) -> None:
        notice = self._viewers.get(user)
        if user in self._viewers:
            self._viewers[user] = None  # a notice is shown once
        await self._client.views_publish(user_id=user, view=self._view(user, notice))

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
        service = self.core.service
        return home_view(self.core.queries.status(), service.open_incidents(), facts)

    def _remember(self, user: str, notice: str | None = None) -> None:
        self._viewers[user] = notice
        self._viewers.move_to_end(user)
        while len(self._viewers) > self.max_viewers:
            self._viewers.popitem(last=False)

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
            self.core.service.report_error("slack-home", exc)
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
