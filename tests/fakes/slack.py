"""A loopback Slack: the Web API and the Socket Mode websocket on 127.0.0.1, for the REAL
slack_sdk / slack_bolt clients.

    async with SlackFake() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        ...
        envelope = await slack.send_slash_command("status", user_id="U1", channel_id="C1")
        await envelope.acked()                    # the client's ack of the envelope
        await eventually(lambda: slack.responses)  # what respond() sent to the response_url

What it records: `calls` (every Web API call), `messages` (by ts, edited in place by
chat.update), `responses` (response_url posts), `uploads` (files_upload_v2 bytes),
`ack_latencies` (seconds from envelope sent to ack received), `webhook_posts` (incoming
webhook bodies, at `webhook_url`).
Faults: `fail_next(method, status=429, retry_after=1)`, `fail_next(method, error="...")`,
`unreachable = True` (503 on every Web API call), `drop_connections()`, `disconnect_clients()`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    edits: int = 0


@dataclass
class _Fault:
    status: int
    retry_after: int | None
    error: str | None
    times: int


@dataclass
class Envelope:
    envelope_id: str
    sent_at: float
    ack: asyncio.Future[dict[str, Any]] = field(repr=False)

    async def acked(self, within: float = 5.0) -> dict[str, Any]:
        return await asyncio.wait_for(asyncio.shield(self.ack), within)


class SlackFake:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[str, Message] = {}
        self.responses: list[dict[str, Any]] = []
        self.webhook_posts: list[dict[str, Any]] = []
        self.uploads: list[bytes] = []
        self.ack_latencies: list[float] = []
        self.unreachable = False
        self.connections_opened = 0
        self._faults: dict[str, _Fault] = {}
        self._ts = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self._pending: dict[str, Envelope] = {}
        self._outbox: list[dict[str, Any]] = []
        self._hello_count = 0
        self._connected = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> SlackFake:
        app = web.Application()
        app.router.add_post("/api/{method}", self._web_api)
        app.router.add_post("/response/{n}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/webhook/{hook}", self._webhook)
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
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

    # -- Web API ---------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 200,
        retry_after: int | None = None,
        error: str | None = None,
        times: int = 1,
    ) -> None:
        self._faults[method] = _Fault(status, retry_after, error, times)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def thread(self, root_ts: str) -> list[Message]:
        return [m for m in self.messages.values() if m.thread_ts == root_ts]

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            params.update(await request.post())
        for key in ("blocks", "attachments", "files"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _web_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.calls.append(Call(method, params, token))
        if self.unreachable:
            return web.Response(status=503, text="service unavailable")
        fault = self._faults.get(method)
        if fault is not None:
            fault.times -= 1
            if fault.times <= 0:
                del self._faults[method]
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            error = fault.error or ("ratelimited" if fault.status == 429 else "fatal_error")
            return web.json_response(
                {"ok": False, "error": error}, status=fault.status, headers=headers
            )
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(
            {"ok": True, **handler(params, token)}
        )  # a handler may say ok: False

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _m_apps_connections_open(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        if not token.startswith("xapp-"):
            raise web.HTTPBadRequest(text="needs an app-level token")
        self.connections_opened += 1
        return {"url": f"ws://127.0.0.1:{self.port}/link/?ticket={self.connections_opened}"}

    def _m_auth_test(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return {
            "url": "https://fake.slack/",
            "team": "T",
            "user": "tradebot",
            "team_id": "T1",
            "user_id": "UBOT",
            "bot_id": "BBOT",
        }

    def _m_chat_postMessage(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ts = self._next_ts()
        message = Message(
            str(params["channel"]),
            ts,
            str(params.get("text", "")),
            list(params.get("blocks") or []),
            params.get("thread_ts"),
        )
        self.messages[ts] = message
        return {"channel": message.channel, "ts": ts, "message": {"text": message.text}}

    def _m_chat_update(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        message = self.messages.get(str(params["ts"]))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.text = str(params.get("text", message.text))
        message.blocks = list(params.get("blocks") or [])
        message.edits += 1
        return {"channel": message.channel, "ts": message.ts}

    def _m_chat_postEphemeral(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return {"message_ts": self._next_ts()}

    def _m_files_getUploadURLExternal(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        file_id = f"F{next(self._ts)}"
        return {"upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return {"files": [{"id": f["id"], "title": f.get("title", "")} for f in params["files"]]}

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads.append(await request.read())
        return web.Response(text="OK")

    @property
    def webhook_url(self) -> str:
        return f"{self.base}/webhook/T1-B1-fake"

    async def _webhook(self, request: web.Request) -> web.Response:
        """An incoming webhook: JSON in, plain "ok" out, as Slack answers."""
        self.webhook_posts.append(await request.json())
        return web.Response(text="ok")

    async def _response_url(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        return web.Response(text="ok")

    # -- Socket Mode -----------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {"host": "fake"},
                "connection_info": {"app_id": "A1"},
            }
        )
        async with self._connected:
            self._hello_count += 1
            self._connected.notify_all()
        outbox, self._outbox = self._outbox, []
        for envelope in outbox:
            await ws.send_json(envelope)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_ack(json.loads(msg.data))
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    def _on_ack(self, data: dict[str, Any]) -> None:
        envelope = self._pending.pop(data.get("envelope_id", ""), None)
        if envelope is not None and not envelope.ack.done():
            self.ack_latencies.append(time.monotonic() - envelope.sent_at)
            envelope.ack.set_result(data.get("payload") or {})

    async def wait_connected(self, count: int = 1, within: float = 5.0) -> None:
        """Wait until `count` Socket Mode connections have said hello in total."""
        async with self._connected:
            await asyncio.wait_for(
                self._connected.wait_for(lambda: self._hello_count >= count), within
            )

    async def _send(self, kind: str, payload: dict[str, Any]) -> Envelope:
        envelope_id = str(uuid.uuid4())
        data = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "payload": payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        envelope = Envelope(
            envelope_id, time.monotonic(), asyncio.get_running_loop().create_future()
        )
        self._pending[envelope_id] = envelope
        live = [ws for ws in self._sockets if not ws.closed]
        if live:
            await live[-1].send_json(data)
        else:
            self._outbox.append(data)
        return envelope

    async def send_slash_command(
        self, text: str, user_id: str = "U1", channel_id: str = "C1", command: str = "/trade"
    ) -> Envelope:
        n = next(self._ts)
        return await self._send(
            "slash_commands",
            {
                "token": "verification",
                "team_id": "T1",
                "team_domain": "fake",
                "channel_id": channel_id,
                "channel_name": "trading",
                "user_id": user_id,
                "user_name": user_id.lower(),
                "command": command,
                "text": text,
                "api_app_id": "A1",
                "response_url": f"{self.base}/response/{n}",
                "trigger_id": f"trigger-{n}",
            },
        )

    async def send_block_action(
        self,
        message_ts: str,
        action_id: str,
        value: str,
        user_id: str = "U1",
        channel_id: str = "C1",
    ) -> Envelope:
        n = next(self._ts)
        message = self.messages.get(message_ts)
        return await self._send(
            "interactive",
            {
                "type": "block_actions",
                "team": {"id": "T1", "domain": "fake"},
                "user": {"id": user_id, "username": user_id.lower(), "team_id": "T1"},
                "api_app_id": "A1",
                "token": "verification",
                "trigger_id": f"trigger-{n}",
                "container": {
                    "type": "message",
                    "message_ts": message_ts,
                    "channel_id": channel_id,
                    "is_ephemeral": False,
                },
                "channel": {"id": channel_id, "name": "trading"},
                "message": {
                    "type": "message",
                    "ts": message_ts,
                    "text": message.text if message else "",
                    "blocks": message.blocks if message else [],
                },
                "response_url": f"{self.base}/response/{n}",
                "actions": [
                    {
                        "action_id": action_id,
                        "block_id": "confirmation",
                        "value": value,
                        "type": "button",
                        "action_ts": str(time.time()),
                    }
                ],
            },
        )

    async def disconnect_clients(self, reason: str = "refresh_requested") -> None:
        """What Slack does before rotating a connection: a disconnect message, then close."""
        for ws in list(self._sockets):
            await ws.send_json({"type": "disconnect", "reason": reason})
            await ws.close()

    async def drop_connections(self) -> None:
        """An abrupt drop, as on a network failure."""
        for ws in list(self._sockets):
            await ws.close(code=1006)
