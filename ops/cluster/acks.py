"""Reading the control plane back: who is alive (heartbeats), which control orders exist, and
who acknowledged a kill or a pause (the gateway's "acknowledged by N of M", naming the silent),
at its deadline and then as late acknowledgements arrive."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from ops.cluster.config import ClusterConfig
from ops.cluster.control_orders import GLOBAL, BadOrder, ControlOrder, parse_order
from ops.cluster.streams import components_bucket, control_bucket
from ops.cluster.subjects import COMPONENTS_BUCKET, CONTROL_BUCKET
from strategy.clock import Clock, SystemClock

log = logging.getLogger(__name__)
SILENT_GRACE_BEATS = 2  # heartbeats a component silent when asked has to speak again


@dataclass(frozen=True, slots=True)
class Component:
    """A heartbeat as read back from the components bucket."""

    key: str
    role: str
    name: str
    account: str | None
    watches: bool
    ts: float
    acks: dict[str, int] = field(default_factory=dict)  # control key -> acknowledged revision
    ack_ts: dict[str, float] = field(default_factory=dict)  # control key -> when

    def age(self, now: float) -> float:
        return max(0.0, now - self.ts)

    def in_scope(self, scope: str) -> bool:
        return scope == GLOBAL or self.account == scope


@dataclass(frozen=True, slots=True)
class AckReport:
    """Who acknowledged one revision of a control key, out of every watcher in its scope."""

    key: str
    revision: int
    acked: tuple[str, ...]
    pending: tuple[str, ...]  # heartbeating, not acknowledged yet
    silent: tuple[str, ...]  # not acknowledged and no heartbeat within silent_after_sec
    after_sec: float | None = None  # from the write to this report
    settled: bool = False  # those silent when asked had their grace to speak (see watch_acks)

    @property
    def who(self) -> tuple[tuple[str, ...], ...]:
        """Who acknowledged, is pending and is silent: what a report changes by."""
        return (self.acked, self.pending, self.silent)

    @property
    def expected(self) -> int:
        return len(self.acked) + len(self.pending) + len(self.silent)

    @property
    def complete(self) -> bool:
        """Every live watcher acknowledged (silent ones cannot; they are named instead)."""
        return not self.pending

    @property
    def all_acked(self) -> bool:
        """Every watcher in scope acknowledged, silent ones that came back included."""
        return not self.pending and not self.silent


async def read_components(js: JetStreamContext, cfg: ClusterConfig) -> list[Component]:
    """Every component with a heartbeat in the bucket, by key."""
    entries = await snapshot(js, await components_bucket(js, cfg), COMPONENTS_BUCKET)
    return [_component(e.key, e.value) for e in entries]


async def read_orders(js: JetStreamContext, cfg: ClusterConfig) -> list[ControlOrder]:
    """Every readable kill and pause entry, in force or lifted, by key (an unreadable one is
    logged: the processes keep what they knew of it)."""
    entries = await snapshot(js, await control_bucket(js, cfg), CONTROL_BUCKET)
    orders = []
    for e in entries:
        try:
            orders.append(parse_order(e.key, e.revision, e.value))
        except BadOrder as exc:
            log.error("control bucket: %s", exc)
    return orders


async def snapshot(js: JetStreamContext, bucket: KeyValue, name: str) -> list[KeyValue.Entry]:
    """The current entry of every key, read one by one. (A watcher's "no more history" marker
    can arrive before the history in nats-py, so it is not used to mean "complete".)"""
    prefix = f"$KV.{name}."
    info = await js.stream_info(f"KV_{name}", subjects_filter=f"{prefix}>")
    entries = []
    for subject in sorted(info.state.subjects or {}):
        try:
            entry = await bucket.get(subject.removeprefix(prefix))
        except (KeyNotFoundError, KeyDeletedError):
            continue
        if entry.value:
            entries.append(entry)
    return entries


def _component(key: str, value: bytes) -> Component:
    body = json.loads(value)
    acks = body.get("acks", {})
    return Component(
        key=key,
        role=str(body["role"]),
        name=str(body["name"]),
        account=body.get("account"),
        watches=bool(body.get("watches")),
        ts=float(body["ts"]),
        acks={k: int(v["revision"]) for k, v in acks.items()},
        ack_ts={k: float(v["ts"]) for k, v in acks.items()},
    )


def silent_components(
    components: Iterable[Component], now: float, silent_after_sec: float
) -> list[Component]:
    """Components whose last heartbeat is older than silent_after_sec: each one an incident."""
    return [c for c in components if c.age(now) > silent_after_sec]


def ack_report(
    components: Iterable[Component], key: str, revision: int, now: float, silent_after_sec: float
) -> AckReport:
    """Expected = every watching component in the key's scope that has a heartbeat entry."""
    scope = key.split(".", 1)[1]
    acked: list[str] = []
    pending: list[str] = []
    silent: list[str] = []
    for c in components:
        if not c.watches or not c.in_scope(scope):
            continue
        if c.acks.get(key, 0) >= revision:
            acked.append(c.key)
        elif c.age(now) > silent_after_sec:
            silent.append(c.key)
        else:
            pending.append(c.key)
    return AckReport(key, revision, tuple(acked), tuple(pending), tuple(silent))


async def await_acks(
    js: JetStreamContext,
    cfg: ClusterConfig,
    key: str,
    revision: int,
    within_sec: float,
    clock: Clock | None = None,
    written_ns: int | None = None,
) -> AckReport:
    """The report once every live watcher acknowledged and those silent when asked had their
    grace (see `watch_acks`), or as it stands after `within_sec`."""
    report = None
    async with contextlib.aclosing(
        watch_acks(js, cfg, key, revision, within_sec, clock, written_ns)
    ) as reports:
        async for report in reports:
            if report.complete and (not report.silent or report.settled):
                break
    assert report is not None  # the first report comes at once
    return report


async def watch_acks(
    js: JetStreamContext,
    cfg: ClusterConfig,
    key: str,
    revision: int,
    within_sec: float,
    clock: Clock | None = None,
    written_ns: int | None = None,
) -> AsyncIterator[AckReport]:
    """The report as it stands now, then again each time it changes (re-read on every
    heartbeat or ack written, not polled) and once more when the silent ones' grace ends,
    until every watcher in scope acknowledged, the silent ones too, or `within_sec` passed.
    One silent when asked is `settled` silent only after SILENT_GRACE_BEATS heartbeats: after
    a nats-server outage every heartbeat in the bucket is old, and the live processes speak
    again within one. `after_sec` counts from `written_ns` (the clock's monotonic time of the
    write; default: now)."""
    clock = clock or SystemClock()
    since_ns = clock.monotonic_ns() if written_ns is None else written_ns
    bucket = await components_bucket(js, cfg)
    watcher = await bucket.watchall()  # before the snapshot: no ack in between is missed
    newest: dict[str, int] = {}
    found: dict[str, Component] = {}

    def fold(entry: KeyValue.Entry) -> None:
        if entry.revision <= newest.get(entry.key, 0):
            return
        newest[entry.key] = entry.revision
        if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
            found.pop(entry.key, None)
        else:
            found[entry.key] = _component(entry.key, entry.value)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_sec
    last: AckReport | None = None
    grace = min(deadline, loop.time() + SILENT_GRACE_BEATS * cfg.heartbeat_sec)
    settled = False
    try:
        for entry in await snapshot(js, bucket, COMPONENTS_BUCKET):
            fold(entry)
        while True:
            report = ack_report(found.values(), key, revision, clock.now(), cfg.silent_after_sec)
            now = loop.time()
            newly_settled = not settled and now >= grace
            settled = settled or newly_settled
            if last is None or report.who != last.who or newly_settled:
                after = (clock.monotonic_ns() - since_ns) / 1e9
                last = replace(report, after_sec=after, settled=settled)
                yield last
            if report.all_acked or now >= deadline:
                return
            wake = deadline if settled else grace
            with contextlib.suppress(NatsTimeoutError):
                entry = await watcher.updates(timeout=max(0.001, wake - now))
                if entry is not None:
                    fold(entry)
    finally:
        await watcher.stop()
