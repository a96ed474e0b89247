"""The loopback Slack's Socket Mode websocket: hello, envelopes (slash commands, buttons,
App Home events, view submissions) and their acks, disconnects and dropped networks. A mixin
of SlackFake (tests/fakes/slack.py), which holds the state."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web


@dataclass
class Envelope:
    envelope_id: str
    sent_at: float
    ack: asyncio.Future[dict[str, Any]] = field(repr=False)

    async def acked(self, within: float = 5.0) -> dict[str, Any]:
        return await asyncio.wait_for(asyncio.shield(self.ack), within)


class SocketMode:
    def _add_socket_mode_routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/link/", self._socket)

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
