"""The loopback Slack's Web API (chat.*, files.*, views.*, apps.connections.open, auth.test),
response_url posts and incoming webhooks: what it records and what it refuses, as Slack does.
A mixin of SlackFake (tests/fakes/slack.py), which holds the state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.slack_blocks import MAX_MESSAGE_TEXT, block_kit_errors, view_errors


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
class Fault:
    status: int
    retry_after: int | None
    error: str | None
    times: int


class WebApi:
    def _add_web_api_routes(self, r: web.UrlDispatcher) -> None:
        r.add_post("/api/{method}", self._web_api)
        r.add_post("/response/{n}", self._response_url)
        r.add_post("/upload/{file_id}", self._upload)
        r.add_post("/webhook/{hook}", self._webhook)

    def fail_next(
        self,
        method: str,
        status: int = 200,
        retry_after: int | None = None,
        error: str | None = None,
        times: int = 1,
    ) -> None:
        self._faults[method] = Fault(status, retry_after, error, times)

    def _take_fault(self, method: str) -> Fault | None:
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

    def _refused_text(self, params: dict[str, Any]) -> Fault | None:
        text = str(params.get("text", ""))
        refused = [answer for marker, answer in self.refuse_texts.items() if marker in text]
        return Fault(refused[0][0], None, refused[0][1], times=0) if refused else None

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


def _view_of(call: Call) -> dict[str, Any]:
    view = call.params.get("view") or {}
    return json.loads(view) if isinstance(view, str) else dict(view)
