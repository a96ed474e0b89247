"""One control record: a kill or pause order, or its resume, read fail-safe from its KV entry."""

from __future__ import annotations

import json
from dataclasses import dataclass

from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

GLOBAL = "global"


@dataclass(frozen=True, slots=True)
class ControlOrder:
    """One kill or pause entry as written by `request_*`."""

    key: str  # kill.global, pause.main, ...
    revision: int
    active: bool
    requester: str
    reason: str
    ts: float
    kept: str = ""  # in force though its key was deleted, purged or unreadable: what happened

    @property
    def kind(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def scope(self) -> str:
        """'global' or the account name."""
        return self.key.split(".", 1)[1]


class BadOrder(ValueError):
    """A control record without its active flag, who, when and why."""


def parse_order(key: str, revision: int, value: bytes) -> ControlOrder:
    """A resume (active false) needs who, when and why; a kill or a pause in force is one
    even without them."""
    try:
        body = json.loads(value)
        active = body["active"]
        if active is True:
            body = {"requester": "unknown", "reason": "no reason given", "ts": 0.0} | body
        order = ControlOrder(
            key=key,
            revision=revision,
            active=active,
            requester=body["requester"],
            reason=body["reason"],
            ts=float(body["ts"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BadOrder(f"{key} revision {revision}: {exc!r}") from None
    if not isinstance(active, bool) or not order.requester or not order.reason:
        raise BadOrder(f"{key} revision {revision}: no active flag, requester or reason")
    return order


def read_entry(entry: KeyValue.Entry) -> tuple[ControlOrder | None, str]:
    """The order an entry holds, or (None, what happened to it instead)."""
    if entry.operation == KV_PURGE:
        return None, "purged"
    if entry.operation == KV_DEL or not entry.value:
        return None, "deleted"
    try:
        return parse_order(entry.key, entry.revision, entry.value), ""
    except BadOrder as exc:
        return None, f"unreadable ({exc})"
