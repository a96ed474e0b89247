"""Which kind of Slack token each variable holds, told by its prefix: swapped or wrong tokens
are refused at start, naming the variable and the kind it holds, never the token."""

from __future__ import annotations

from ops.shared import messages
from ops.shared.errors import StartupError

BOT_VARIABLE = "SLACK_BOT_TOKEN"
APP_VARIABLE = "SLACK_APP_TOKEN"
BOT, APP, USER = "bot", "app", "user"
PREFIXES = (("xoxb-", BOT), ("xapp-", APP), ("xoxp-", USER))


def kind(token: str) -> str | None:
    """bot, app or user; None for text that is no Slack token."""
    bare = token.removeprefix("xoxe.")  # a rotating token (token rotation on)
    return next((name for prefix, name in PREFIXES if bare.startswith(prefix)), None)


def check(bot_token: str | None, app_token: str | None) -> None:
    """StartupError when a token that is set is not of its variable's kind."""
    bot_kind = kind(bot_token) if bot_token else BOT
    app_kind = kind(app_token) if app_token else APP
    if bot_kind == APP and app_kind == BOT:
        raise StartupError(messages.SLACK_TOKENS_SWAPPED)
    wrong = [
        messages.SLACK_TOKEN_WRONG.format(
            variable=variable,
            found=messages.SLACK_TOKEN_KINDS[found],
            wanted=messages.SLACK_TOKEN_KINDS[wanted],
        )
        for variable, found, wanted in (
            (BOT_VARIABLE, bot_kind, BOT),
            (APP_VARIABLE, app_kind, APP),
        )
        if found != wanted
    ]
    if wrong:
        raise StartupError("; ".join(wrong))
