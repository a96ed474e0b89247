"""The Socket Mode connection, tuned to notice a dead socket within about 2 s.

slack_bolt's defaults (a 10 s ping interval) leave commands unanswered for 8-10 s after a TCP
drop without a close frame and ~20 s after a half-open connection (the peer silent, no FIN):
slack_sdk only notices when aiohttp's heartbeat has timed out *and* its own monitor next wakes,
both paced by the ping interval. Here:

- aiohttp pings after PING_INTERVAL_SEC without traffic and declares the socket dead when no
  pong came within half of that; the SDK's monitor also checks every PING_INTERVAL_SEC;
- a socket the heartbeat declared dead is replaced at once, not at the monitor's next check;
- failed attempts to open a new connection back off (1, 2, 4 ... 30 s), so a Slack outage does
  not log a reconnect error every second, and an error page (not JSON) from
  apps.connections.open is reported as such rather than as slack_sdk's AttributeError;
- the first connection is made by `connect_until_up`, meant for a background task: slack_sdk's
  own connect() retries inside the call, so a Slack unreachable at start-up would hold the
  caller forever and log a full traceback per attempt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import WSMessage
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

log = logging.getLogger(__name__)
PING_INTERVAL_SEC = 1.0
BACKOFF_MAX_SEC = 30.0


class ConnectionOpenError(ConnectionError):
    """apps.connections.open refused or failed: no new Socket Mode URL this time."""


def backoff_delay(failures: int, cap: float = BACKOFF_MAX_SEC) -> float:
    """Seconds to wait before the next attempt after `failures` failed ones in a row."""
    return 0.0 if failures <= 0 else min(2.0 ** (failures - 1), cap)


def describe(response: AsyncSlackResponse) -> str:
    """One line for a failed apps.connections.open, whatever the body was."""
    data = response.data
    reason = data.get("error") if isinstance(data, dict) else str(data or "")[:80]
    return f"apps.connections.open failed: HTTP {response.status_code}, {reason}"


class ReconnectingClient(SocketModeClient):
    """slack_sdk's aiohttp Socket Mode client, reconnecting as soon as a socket dies."""

    def __init__(self, app_token: str, app: AsyncApp, ping_interval: float) -> None:
        super().__init__(
            app_token=app_token,
            logger=app.logger,
            web_client=app.client,
            ping_interval=ping_interval,
        )
        self.failures = 0
        self.last_error = ""  # why the last attempt to open a connection failed ("" if it did not)
        self.on_error_listeners.append(self._replace_dead_socket)

    async def _replace_dead_socket(self, message: WSMessage) -> None:
        """aiohttp's heartbeat found no pong (or the frames were garbage): reconnect now.
        connect_to_new_endpoint does nothing while the current session is still alive."""
        await self.connect_to_new_endpoint()

    async def issue_new_wss_url(self) -> str:
        await asyncio.sleep(backoff_delay(self.failures))
        try:
            response = await self.web_client.apps_connections_open(app_token=self.app_token)
        except SlackApiError as exc:
            self.failures += 1
            self.last_error = describe(exc.response)
            raise ConnectionOpenError(self.last_error) from exc
        except Exception as exc:
            self.failures += 1
            self.last_error = str(exc) or type(exc).__name__
            raise
        self.failures, self.last_error = 0, ""
        return str(response["url"])


class SocketModeHandler(AsyncSocketModeHandler):
    """Bolt's aiohttp Socket Mode handler on a ReconnectingClient."""

    def __init__(
        self, app: AsyncApp, app_token: str, ping_interval: float = PING_INTERVAL_SEC
    ) -> None:
        # Not super().__init__: it would build (and leak) a second client with its own session.
        self.app = app
        self.app_token = app_token
        self.client = ReconnectingClient(app_token, app, ping_interval)
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

    async def connect_until_up(self, failed: Callable[[], None] = lambda: None) -> None:
        """Open the first connection, trying until Slack answers: each failed attempt is one
        log line and a call to `failed`, the next waits longer (backoff_delay). Once up, the
        SDK's session monitor keeps the connection."""
        client = self.client
        while not client.closed:
            try:
                client.wss_uri = await client.issue_new_wss_url()
            except Exception:  # whatever kept Slack from answering: said, then tried again
                log.warning(
                    "Slack unreachable (%s): attempt %d failed, next in %.0fs",
                    client.last_error,
                    client.failures,
                    backoff_delay(client.failures),
                )
                failed()
                continue
            await self.connect_async()
            return
