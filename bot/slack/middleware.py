"""Authorization and audit as Bolt middleware over the pure `decide`: every /trade command and
authorized button is acked first, then either passed on (`next()`) or refused privately with an
audit row, so no listener checks permissions itself."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from bot.slack.authz import Policy, classify, decide
from bot.slack.replies import Replies

Audit = Callable[[str, str, str, str, str, str], None]  # user, channel, surface, text, outcome, why
Spawn = Callable[[str, Coroutine[Any, Any, Any]], object]  # a named, tracked background task


class Authorize:
    """Over any command core: the single-process one and the cluster gateway's."""

    def __init__(self, audit: Audit, spawn: Spawn, policy: Policy) -> None:
        self.audit = audit
        self.spawn = spawn
        self.policy = policy
        self._replies = itertools.count(1)

    async def __call__(
        self,
        body: Mapping[str, Any],
        ack: Callable[..., Awaitable[Any]],
        client: Any,
        next_: Callable[[], Awaitable[None]],
    ) -> Any:
        asked = classify(body)
        if asked is None:
            return await next_()
        refusal = decide(self.policy, asked.user, asked.channel, asked.action)
        response = await ack()  # Slack gets its ack before anything slow happens
        if refusal is None:
            return await next_()
        self.audit(asked.user, asked.channel, "slack", asked.text, "unauthorized", refusal)
        # The refusal goes out after the ack: the middleware returns at once (not calling
        # next() stops Bolt here) and the reply is a tracked background task.
        replies = Replies(client, body.get("response_url"))
        self.spawn(f"slack-refusal-{next(self._replies)}", replies.say(f":warning: {refusal}"))
        return response
