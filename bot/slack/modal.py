"""`/trade set` with no arguments (or Home's "Change settings…") opens a modal of every
settable parameter; a submission is checked at once (errors inline, `response_action:
errors`), then each change goes through the command core and is posted for Confirm / Cancel
in the channel the form was opened from, exactly as `/trade set <param> <value>` would be."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.slack.authz import Policy, decide
from bot.slack.modal_view import CALLBACK_ID, NOTHING, origin_of, read_submission, set_modal
from bot.slack.replies import Replies
from bot.slack.told import Told, tell_privately
from ops.control.commands import CommandCore
from ops.control.parsing import parse_command
from ops.shared.results import CommandError, ConfirmRequest

log = logging.getLogger(__name__)
PostConfirmation = Callable[[Replies, str, ConfirmRequest], Awaitable[bool]]
Respond = Callable[..., Awaitable[Any]]
OPEN_FAILED = "could not open the settings form ({error}); use `/trade set <param> <value>`"
CHANGE_FAILED = ":warning: {text}: {error}"


async def is_bare_set(command: dict[str, Any]) -> bool:
    """Bolt matcher: `/trade set` with nothing after it (the console keeps its usage line)."""
    try:
        parsed = parse_command(command.get("text", ""))
    except CommandError:
        return False
    return parsed.name == "set" and not parsed.args


class SetModal:
    def __init__(
        self, core: CommandCore, policy: Policy, client: Any, post_confirmation: PostConfirmation
    ) -> None:
        self.core = core
        self.policy = policy
        self._client = client
        self._post_confirmation = post_confirmation

    def register(self, app: AsyncApp) -> None:
        """Register before the general `/trade` listener: Bolt runs the first that matches."""
        app.command("/trade", matchers=[is_bare_set])(self.on_command)
        app.view(CALLBACK_ID)(self.on_submit)

    async def on_command(self, ack: Any, command: dict[str, Any], respond: Respond) -> None:
        await ack()
        user, channel = command["user_id"], command["channel_id"]
        problem = await self.open(command["trigger_id"], user, channel, command["response_url"])
        if problem is not None:
            await respond(text=f":warning: {problem}", response_type="ephemeral")

    async def open(
        self, trigger_id: str, user: str, channel: str, response_url: str | None = None
    ) -> str | None:
        """Open the form for `user`, its changes to be confirmed in `channel` (and answered
        through the command's `response_url`, if any); None when it opened, otherwise what to
        tell the user."""
        refusal = decide(self.policy, user, channel, "set")
        if refusal is not None:
            self.core.audit(user, channel, "slack", "set (form)", "unauthorized", refusal)
            return refusal
        view = set_modal(self.core.queries.config(), channel, response_url)
        try:
            await self._client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("views.open failed: %s", error)
            return OPEN_FAILED.format(error=error)
        return None

    async def on_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        user, (channel, response_url) = body["user"]["id"], origin_of(view)
        values = view["state"]["values"]
        first = next(iter(values), "")
        refusal = decide(self.policy, user, channel, "set")
        if refusal is not None:
            self.core.audit(user, channel, "slack", "set (form)", "unauthorized", refusal)
            await ack(response_action="errors", errors={first: refusal})
            return
        changes, errors, apply_open = read_submission(values, self.core.settings)
        if not changes and not errors:
            errors = {first: NOTHING}
        if errors:
            detail = "; ".join(f"{path}: {error}" for path, error in errors.items())
            self.core.audit(user, channel, "slack", "set (form)", "refused", detail)
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        # Replies go where a `/trade set` reply would: the command's response_url, kept in the
        # form; a form opened from App Home has none, so they become one ephemeral message.
        replies = Replies(self._client, response_url) if response_url else Told(self._client)
        for change in changes:
            text = f"set {change.spec.path} {change.text}" + (" --open" if apply_open else "")
            try:
                request = await self.core.handle(text, user, channel, "slack")
            except CommandError as exc:  # it changed under us since the check
                await replies.say(CHANGE_FAILED.format(text=text, error=exc))
                continue
            assert isinstance(request, ConfirmRequest)  # `set` always asks
            await self._post_confirmation(replies, channel, request)  # withdrawn if refused
        if isinstance(replies, Told) and replies.lines:
            await tell_privately(self._client, channel, user, replies.text)
