"""A loopback Slack: the Web API and the Socket Mode websocket on 127.0.0.1, for the REAL
slack_sdk / slack_bolt clients.

    async with SlackFake() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        ...
        envelope = await slack.send_slash_command("status", user_id="U1", channel_id="C1")
        await envelope.acked()                    # the client's ack of the envelope
        await eventually(lambda: slack.responses)  # what respond() sent to the response_url

What it records: `calls` (every Web API call), `messages` (by ts, edited in place by
chat.update), `responses` (response_url posts; `refused_responses` those it refused), `uploads`
(files_upload_v2 bytes), `ack_latencies` (seconds from envelope sent to ack received),
`webhook_posts` (incoming webhook bodies, at `webhook_url`).
Faults: `fail_next(method, status=429, retry_after=1)`, `fail_next(method, error="...")`
(method "response_url": the next response_url post answers `status` and `error` as text),
`refuse_texts[marker] = (status, error)` (every Web API call whose text holds `marker` is
refused so, however often it is sent),
`unreachable = True` (503 on every Web API call), `home_tab_enabled = False` (views.publish
answers `not_enabled`, as for an app whose Home tab is off), `drop_connections()`,
`disconnect_clients()`, `drop_without_close_frame(half_open=True)`. A call Slack refused has
`ok` False.
As Slack does, it answers `not_in_channel` for a channel in `channels_without_bot`,
`invalid_blocks` (HTTP 400 on a response_url) for blocks past Block Kit's limits (see
`block_kit_errors`), and `message_not_found` for chat.update of a message it does not hold (or
one removed with `delete_message(ts)`).
The protocols live in their own modules, mixed in here: slack_web_api.py (Web API,
response_url, webhooks) and slack_socket_mode.py (the websocket), with Block Kit's limits in
slack_blocks.py.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from aiohttp import web

from tests.fakes.slack_blocks import MAX_SECTION_TEXT, block_kit_errors, view_errors
from tests.fakes.slack_socket_mode import Envelope, SocketMode
from tests.fakes.slack_web_api import Call, Fault, Message, WebApi

__all__ = [
    "MAX_SECTION_TEXT",
    "Call",
    "Envelope",
    "Message",
    "SlackFake",
    "block_kit_errors",
    "view_errors",
]


class SlackFake(WebApi, SocketMode):
    def __init__(self, port: int = 0) -> None:
        self.port = port  # 0: any free one; else one the client was given before Slack came up
        self.calls: list[Call] = []
        self.messages: dict[str, Message] = {}
        self.responses: list[dict[str, Any]] = []
        self.refused_responses: list[dict[str, Any]] = []
        self.webhook_posts: list[dict[str, Any]] = []
        self.uploads: list[bytes] = []
        self.ack_latencies: list[float] = []
        self.unreachable = False
        self.home_tab_enabled = True
        self.channels_without_bot: set[str] = set()
        self.refuse_texts: dict[str, tuple[int, str]] = {}  # marker -> (HTTP status, error)
        self.connections_opened = 0
        self._faults: dict[str, Fault] = {}
        self._ts = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self._transports: dict[web.WebSocketResponse, asyncio.Transport | None] = {}
        self._silent: list[asyncio.Transport] = []
        self._pending: dict[str, Envelope] = {}
        self._outbox: list[dict[str, Any]] = []
        self._hello_count = 0
        self._connected = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> SlackFake:
        app = web.Application()
        self._add_web_api_routes(app.router)
        self._add_socket_mode_routes(app.router)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for transport in self._silent:  # nothing reads them: closing would wait for a reply
            transport.abort()
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"
