"""The control plane's writers (the gateway's confirmed kill, pause and resume): each order is
a record of who, when and why in the control bucket; a resume is written only over the revisions
its confirmation showed, so a kill or pause written since refuses it (WrittenSince)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from ops.cluster.config import ClusterConfig
from ops.cluster.control_orders import read_entry
from ops.cluster.streams import control_bucket
from ops.cluster.subjects import kill_key, pause_key
from strategy.clock import Clock, SystemClock


class WrittenSince(Exception):
    """A resume bound to what its confirmation showed: the key was written since."""

    def __init__(self, key: str, shown: int, now: int, written: str) -> None:
        super().__init__(f"{key}: revision {shown} shown, {now} now ({written})")
        self.key, self.shown, self.now, self.written = key, shown, now, written


def _body(active: bool, requester: str, reason: str, clock: Clock | None) -> bytes:
    now = (clock or SystemClock()).now()
    return json.dumps(
        {"active": active, "requester": requester, "reason": reason, "ts": now}
    ).encode()


async def _write(
    js: JetStreamContext, cfg: ClusterConfig, key: str, active: bool, requester: str, reason: str,
    clock: Clock | None,
) -> int:  # fmt: skip
    bucket = await control_bucket(js, cfg)
    return await bucket.put(key, _body(active, requester, reason, clock))


async def read_revisions(
    js: JetStreamContext, cfg: ClusterConfig, keys: Iterable[str]
) -> dict[str, int]:
    """Each key's newest revision (a deletion's too; 0: never written): what a resume's
    confirmation showed, so that `request_resume` refuses if anything was written since."""
    bucket = await control_bucket(js, cfg)
    revisions = {}
    for key in keys:
        try:
            revisions[key] = (await bucket.get(key)).revision
        except KeyNotFoundError as exc:  # nats-py's for a deleted key too, with its marker
            revisions[key] = exc.entry.revision if exc.entry is not None else 0
    return revisions


async def request_kill(
    js: JetStreamContext,
    cfg: ClusterConfig,
    account: str | None,
    requester: str,
    reason: str,
    clock: Clock | None = None,
) -> int:
    """Write kill.global (account None) or kill.{account}; the revision to track acks of."""
    return await _write(js, cfg, kill_key(account), True, requester, reason, clock)


async def request_pause(
    js: JetStreamContext,
    cfg: ClusterConfig,
    account: str | None,
    requester: str,
    reason: str,
    clock: Clock | None = None,
) -> int:
    return await _write(js, cfg, pause_key(account), True, requester, reason, clock)


async def request_resume(
    js: JetStreamContext,
    cfg: ClusterConfig,
    account: str | None,
    requester: str,
    reason: str,
    shown: Mapping[str, int],
    clock: Clock | None = None,
) -> dict[str, int]:
    """The resume record: lift the kill, then the pause, of this scope, each only if its key
    is still at the revision the confirmation showed (`read_revisions`); WrittenSince names
    the first that moved (nothing after it is written). {key: revision} of each write."""
    bucket = await control_bucket(js, cfg)
    body = _body(False, requester, reason, clock)
    written = {}
    for key in (kill_key(account), pause_key(account)):
        try:
            written[key] = await bucket.update(key, body, last=shown[key])
        except KeyWrongLastSequenceError:
            now, what = await _describe(bucket, key)
            raise WrittenSince(key, shown[key], now, what) from None
    return written


async def _describe(bucket: KeyValue, key: str) -> tuple[int, str]:
    """A key's revision and what it holds now, in words."""
    try:
        entry = await bucket.get(key)
    except KeyNotFoundError as exc:  # nats-py's for a deleted key too, with its marker
        return (0, "never written") if exc.entry is None else (exc.entry.revision, "deleted")
    order, lost = read_entry(entry)
    if order is None:
        return entry.revision, lost
    verb = "in force" if order.active else "resumed"
    return entry.revision, f"{order.kind} {verb} by {order.requester}: {order.reason}"
