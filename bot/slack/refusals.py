"""What a failed Slack Web API call means for whoever sends it again: Slack's documented error
codes (https://api.slack.com/methods/chat.postMessage#errors and the errors every method
shares) sorted into transient (the same request may pass later) and final (it never will)."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError

# Slack's own word that the request itself was fine: it was limited, or Slack failed.
TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "fatal_error",
        "internal_error",
        "request_timeout",
        "service_unavailable",
        "team_added_to_org",  # the workspace is migrating: intermittently unavailable
    }
)
# The blocks were refused, not the message: its text alone may still be shown.
BLOCK_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long"})


def error_code(exc: BaseException) -> str:
    """Slack's error code (e.g. `not_in_channel`), `HTTP <status>` for an answer without one,
    else the exception's type: one short word for a log line."""
    if isinstance(exc, SlackApiError):
        data = exc.response.data
        error = data.get("error") if isinstance(data, dict) else None
        return str(error) if error else f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    """True for a rate limit, a 5xx, Slack's documented transient errors and a connection that
    failed or timed out. Every other answer Slack gives (a bad message, a channel we are not
    in, a revoked token...) is final, and so is anything else raised (a bug repeats)."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        return status == 429 or status >= 500 or error_code(exc) in TRANSIENT_ERRORS
    return isinstance(exc, aiohttp.ClientError | TimeoutError | ConnectionError)
