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

# Block Kit's documented limits (https://api.slack.com/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255
MAX_HEADER_TEXT = 150
MAX_MESSAGE_TEXT = 40000


def block_kit_errors(blocks: list[dict[str, Any]]) -> list[str]:
    """What Slack would say is wrong with these blocks (empty when they are valid)."""
    errors = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        where = f"[json-pointer:/blocks/{i}"
        if len(str(block.get("block_id", ""))) > MAX_ID:
            errors.append(f"block_id too long {where}/block_id]")
        kind = block.get("type")
        text = (block.get("text") or {}).get("text", "")
        if kind == "section":
            if len(text) > MAX_SECTION_TEXT:
                errors.append(f"must be less than {MAX_SECTION_TEXT + 1} characters {where}/text]")
            fields = block.get("fields") or []
            if len(fields) > MAX_SECTION_FIELDS or any(
                len(f.get("text", "")) > MAX_FIELD_TEXT for f in fields
            ):
                errors.append(f"fields past the limits {where}/fields]")
            if not text and not fields:
                errors.append(f"must provide text or fields {where}]")
        elif kind == "header" and len(text) > MAX_HEADER_TEXT:
            errors.append(f"must be less than {MAX_HEADER_TEXT + 1} characters {where}/text]")
        elif kind == "context" and len(block.get("elements") or []) > MAX_CONTEXT_ELEMENTS:
            errors.append(f"no more than {MAX_CONTEXT_ELEMENTS} items allowed {where}/elements]")
        elif kind == "actions":
            elements = block.get("elements") or []
            if len(elements) > MAX_ACTIONS_ELEMENTS:
                errors.append(f"no more than {MAX_ACTIONS_ELEMENTS} items allowed {where}]")
            for element in elements:
                if element.get("type") != "button":
                    continue
                if (
                    len(element.get("text", {}).get("text", "")) > MAX_BUTTON_TEXT
                    or len(str(element.get("value", ""))) > MAX_BUTTON_VALUE
                    or len(str(element.get("action_id", ""))) > MAX_ID
                ):
                    errors.append(f"button past the limits {where}/elements]")
    return errors


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str
    ok: bool = True  # False when Slack refused it (an error answer)


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
        self._faults: dict[str, _Fault] = {}
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
        app.router.add_post("/api/{method}", self._web_api)
        app.router.add_post("/response/{n}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/webhook/{hook}", self._webhook)
        app.router.add_get("/link/", self._socket)
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

    def _take_fault(self, method: str) -> _Fault | None:
        fault = self._faults.get(method)
        if fault is not None:
            fault.times -= 1
            if fault.times <= 0:
                del self._faults[method]
        return fault

    def delete_message(self, ts: str) -> None:
        """Someone deleted the message: updating it is `message_not_found` from now on."""
        del self.messages[ts]

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
        call = Call(method, params, token, ok=False)
        self.calls.append(call)
        if self.unreachable:
            return web.Response(status=503, text="service unavailable")
        fault = self._take_fault(method) or self._refused_text(params)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            error = fault.error or ("ratelimited" if fault.status == 429 else "fatal_error")
            return web.json_response(
                {"ok": False, "error": error}, status=fault.status, headers=headers
            )
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        answer = {"ok": True, **handler(params, token)}  # a handler may say ok: False
        call.ok = bool(answer["ok"])
        return web.json_response(answer)

    def _refused_text(self, params: dict[str, Any]) -> _Fault | None:
        text = str(params.get("text", ""))
        refused = [answer for marker, answer in self.refuse_texts.items() if marker in text]
        return _Fault(refused[0][0], None, refused[0][1], times=0) if refused else None

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

    def _refusal(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """Slack's answer to a message it will not take, before anything is stored."""
        if str(params.get("channel", "")) in self.channels_without_bot:
            return {"ok": False, "error": "not_in_channel"}
        errors = block_kit_errors(list(params.get("blocks") or []))
        if errors:
            return {"ok": False, "error": "invalid_blocks", "errors": errors}
        if len(str(params.get("text", ""))) > MAX_MESSAGE_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        return None

    def _m_chat_postMessage(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        refused = self._refusal(params)
        if refused is not None:
            return refused
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
        refused = self._refusal(params)
        if refused is not None:
            return refused
        message = self.messages.get(str(params["ts"]))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.text = str(params.get("text", message.text))
        message.blocks = list(params.get("blocks") or [])
        message.edits += 1
        return {"channel": message.channel, "ts": message.ts}

    def _m_chat_postEphemeral(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        refused = self._refusal(params)
        if refused is not None:
            return refused
        return {"message_ts": self._next_ts()}

    def _m_files_getUploadURLExternal(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        file_id = f"F{next(self._ts)}"
        return {"upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        if str(params.get("channel_id", "")) in self.channels_without_bot:
            return {"ok": False, "error": "not_in_channel"}
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
        """A response_url post: recorded when Slack would show it; refused as Slack refuses it
        (HTTP 400 and the error as plain text) past Block Kit's limits."""
        body = await request.json()
        fault = self._take_fault("response_url")
        if fault is not None:
            self.refused_responses.append(body)
            return web.Response(status=fault.status, text=fault.error or "error")
        errors = block_kit_errors(list(body.get("blocks") or []))
        if errors:
            self.refused_responses.append(body)
            return web.Response(status=400, text="invalid_blocks")
        self.responses.append(body)
        return web.Response(text="ok")

    # -- Socket Mode -----------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self._transports[ws] = request.transport
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
            self._transports.pop(ws, None)
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
                **_interaction("block_actions", user_id, n),
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
        """An abnormal close: a close frame with code 1006, then the socket closes."""
        for ws in list(self._sockets):
            await ws.close(code=1006)

    # -- App Home and modals ---------------------------------------------------------------
    # views.publish / views.open are answered from `calls` (no state of their own): the tab a
    # user sees is the last view published for them; a trigger_id opens one modal, once.

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The App Home view Slack would show `user_id` now (the last one published)."""
        published = [
            c for c in self.calls_to("views.publish") if c.ok and c.params.get("user_id") == user_id
        ]
        return _view_of(published[-1]) if published else None

    @property
    def opened_views(self) -> list[dict[str, Any]]:
        """Every modal views.open accepted, in order."""
        return [_view_of(c) for c in self.calls_to("views.open") if c.ok]

    def _m_views_publish(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        if not self.home_tab_enabled:
            return {"ok": False, "error": "not_enabled"}
        view = _view_of(Call("views.publish", params, token))
        errors = view_errors(view)
        if errors or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments", "errors": errors}
        return {"view": {**view, "id": f"VHOME{params['user_id']}"}}

    def _m_views_open(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        trigger = str(params.get("trigger_id", ""))
        earlier = [c for c in self.calls_to("views.open") if c.params.get("trigger_id") == trigger]
        if not trigger.startswith("trigger-") or len(earlier) > 1:
            return {"ok": False, "error": "expired_trigger_id"}
        view = _view_of(Call("views.open", params, token))
        errors = view_errors(view)
        if errors:
            return {"ok": False, "error": "invalid_arguments", "errors": errors}
        return {"view": {**view, "id": f"VMODAL{next(self._ts)}"}}

    async def send_app_home_opened(self, user_id: str = "U1", tab: str = "home") -> Envelope:
        """The user opened the app's Home (or Messages) tab."""
        n = next(self._ts)
        return await self._send(
            "events_api",
            {
                "token": "verification",
                "team_id": "T1",
                "api_app_id": "A1",
                "type": "event_callback",
                "event_id": f"Ev{n}",
                "event_time": int(time.time()),
                "event": {
                    "type": "app_home_opened",
                    "user": user_id,
                    "channel": f"D{user_id}",
                    "tab": tab,
                    "event_ts": str(time.time()),
                },
            },
        )

    async def send_view_action(
        self, view: dict[str, Any], action_id: str, value: str, user_id: str = "U1"
    ) -> Envelope:
        """A button pressed in a view (the Home tab): no channel, no response_url."""
        n = next(self._ts)
        view_id = str(view.get("id") or f"VHOME{user_id}")
        block_id = next(
            (
                str(b.get("block_id", ""))
                for b in view.get("blocks", [])
                for e in [*b.get("elements", []), b.get("accessory") or {}]
                if e.get("action_id") == action_id
            ),
            "",
        )
        return await self._send(
            "interactive",
            {
                **_interaction("block_actions", user_id, n),
                "container": {"type": "view", "view_id": view_id},
                "view": {**view, "id": view_id},
                "actions": [
                    {
                        "action_id": action_id,
                        "block_id": block_id,
                        "value": value,
                        "type": "button",
                        "action_ts": str(time.time()),
                    }
                ],
            },
        )

    async def send_view_submission(
        self,
        view: dict[str, Any],
        user_id: str = "U1",
        typed: dict[str, str | None] | None = None,
        checked: dict[str, list[str]] | None = None,
    ) -> Envelope:
        """Submit a modal as Slack does: each input's state is what was `typed` into it (by
        block_id), else its initial value; checkboxes are `checked` option values. The ack's
        payload is the listener's answer (e.g. response_action: errors)."""
        values: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            block_id, element = str(block["block_id"]), block["element"]
            if element["type"] == "checkboxes":
                chosen = (checked or {}).get(block_id, [])
                options = [o for o in element["options"] if o["value"] in chosen]
                state = {"type": "checkboxes", "selected_options": options}
            else:
                value = (typed or {}).get(block_id, element.get("initial_value"))
                state = {"type": element["type"], "value": value}
            values[block_id] = {element["action_id"]: state}
        n = next(self._ts)
        return await self._send(
            "interactive",
            {
                **_interaction("view_submission", user_id, n),
                "view": {
                    **view,
                    "id": view.get("id", f"VMODAL{n}"),
                    "state": {"values": values},
                    "hash": f"h{n}",
                },
                "response_urls": [],
            },
        )

    # -- network failures ------------------------------------------------------------------

    async def drop_without_close_frame(self, half_open: bool = True) -> None:
        """The network loses every Socket Mode connection; no close frame is sent. Half-open
        (the default): the TCP connection stays up but nothing answers any more, pings
        included, as when a NAT or a proxy forgets it; otherwise the TCP connection is reset.
        Envelopes sent from now on wait for the client's next connection."""
        for ws in list(self._sockets):
            self._sockets.remove(ws)
            transport = self._transports.pop(ws, None)
            if transport is None:
                continue
            if half_open:
                transport.pause_reading()
                self._silent.append(transport)
            else:
                transport.abort()


MAX_VIEW_BLOCKS = 100
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000


def _view_of(call: Call) -> dict[str, Any]:
    view = call.params.get("view") or {}
    return json.loads(view) if isinstance(view, str) else dict(view)


def view_errors(view: dict[str, Any]) -> list[str]:
    """What Slack would say is wrong with a Home tab or modal (empty when valid)."""
    blocks = list(view.get("blocks") or [])
    errors = [e for e in block_kit_errors(blocks) if not e.endswith("[json-pointer:/blocks]")]
    if not 1 <= len(blocks) <= MAX_VIEW_BLOCKS:
        errors.append(f"between 1 and {MAX_VIEW_BLOCKS} items allowed [json-pointer:/view/blocks]")
    for key in ("title", "submit", "close"):
        if len((view.get(key) or {}).get("text", "")) > MAX_VIEW_TITLE:
            errors.append(f"must be less than {MAX_VIEW_TITLE + 1} characters [/view/{key}]")
    if len(view.get("private_metadata") or "") > MAX_PRIVATE_METADATA:
        errors.append("private_metadata too long [json-pointer:/view/private_metadata]")
    if view.get("type") == "modal" and not view.get("title"):
        errors.append("a modal needs a title [json-pointer:/view/title]")
    return errors


def _interaction(kind: str, user_id: str, n: int) -> dict[str, Any]:
    """The fields every interactive payload (a button, a form) starts with."""
    return {
        "type": kind,
        "team": {"id": "T1", "domain": "fake"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "verification",
        "trigger_id": f"trigger-{n}",
    }
