"""Kill and pause through the KV store: every process watches and acknowledges, and heartbeats.

Control bucket (`CONTROL_BUCKET`): `kill.global`, `kill.{account}`, `pause.global`,
`pause.{account}`, each a JSON order {active, requester, reason, ts} (one record:
ops/cluster/control_orders.py). A resume writes the same key with active false (who, when, why:
the only way a kill or a pause ends), so it has a revision to acknowledge too. Fail safe: a key
deleted, purged or unreadable while its last known order was in force keeps that order in force
(logged, and `kept` says why); so does a record without who, when and why.

Components bucket (`COMPONENTS_BUCKET`): `{role}.{name}` -> {role, name, account, watches, ts,
acks: {control key: {revision, ts}}}. A process that watches control orders must acknowledge them;
one that only heartbeats (the gateway, an ingestor) is not expected to. A clean stop deletes the
key; a key whose heartbeat is older than `silent_after_sec` is a silent component (an incident).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace

from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

from ops.cluster.config import ClusterConfig
from ops.cluster.control_orders import ControlOrder, read_entry
from ops.cluster.resume import Reconnects
from ops.cluster.streams import components_bucket, control_bucket
from ops.cluster.subjects import (
    component_key,
    kill_key,
    pause_key,
)
from strategy.clock import Clock, SystemClock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ControlView:
    """The orders that apply to one process (global ones and its account's)."""

    orders: tuple[ControlOrder, ...] = ()

    @property
    def killed(self) -> ControlOrder | None:
        return _first_active(self.orders, "kill")

    @property
    def paused(self) -> ControlOrder | None:
        return _first_active(self.orders, "pause")

    @property
    def revisions(self) -> tuple[int, ...]:
        return tuple(order.revision for order in self.orders)

    @property
    def kept(self) -> tuple[ControlOrder, ...]:
        """Orders in force only because their key's deletion or garbling was not a resume."""
        return tuple(o for o in self.orders if o.kept)

    def lift(self, key: str | None, kind: str) -> ControlOrder | None:
        """The explicit resume record that ended `key` (None: any key of `kind`), if any."""
        lifts = [
            o for o in self.orders if not o.active and (o.key == key if key else o.kind == kind)
        ]
        return max(lifts, key=lambda o: o.revision) if lifts else None


def _first_active(orders: Iterable[ControlOrder], kind: str) -> ControlOrder | None:
    active = [o for o in orders if o.kind == kind and o.active]
    return min(active, key=lambda o: o.revision) if active else None


OnChange = Callable[[ControlView], Awaitable[None]]


class ControlPlane:
    """One process's side: watch the orders that apply to it, heartbeat, acknowledge."""

    def __init__(
        self,
        js: JetStreamContext,
        cfg: ClusterConfig,
        role: str,
        name: str,
        account: str | None,
        clock: Clock | None = None,
        reconnects: Reconnects | None = None,
    ) -> None:
        self._js = js
        self._reconnects = reconnects
        self._cfg = cfg
        self.role = role
        self.name = name
        self.account = account
        self.key = component_key(role, name)
        self._clock = clock or SystemClock()
        self._orders: dict[str, ControlOrder] = {}
        self._seen: dict[str, int] = {}  # key -> newest revision folded in
        self._acks: dict[str, tuple[int, float]] = {}
        self._watches = False
        self._control: KeyValue | None = None
        self._components: KeyValue | None = None
        self._watcher: KeyValue.KeyWatcher | None = None
        self._entries: asyncio.Queue[KeyValue.Entry] = asyncio.Queue()
        self._relay_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._write_lock = asyncio.Lock()
        self._stopping = False

    @property
    def view(self) -> ControlView:
        return ControlView(tuple(sorted(self._orders.values(), key=lambda o: o.revision)))

    async def start(self, on_change: OnChange | None = None) -> ControlView:
        """Heartbeat now and every heartbeat_sec. With `on_change`, also watch: it is called
        once with the orders in force at start (before this returns) and again on every change;
        the process applies them, then calls `acknowledge`."""
        self._control = await control_bucket(self._js, self._cfg)
        self._components = await components_bucket(self._js, self._cfg)
        self._watches = on_change is not None
        if on_change is not None:
            # Watch first, then read the keys that apply: nothing written in between is missed,
            # and the watcher's copies of what was read are skipped by revision.
            self._watcher = await self._control.watchall()
            for key in self._keys():
                with contextlib.suppress(KeyNotFoundError, KeyDeletedError):
                    self._take(await self._control.get(key))
            await on_change(self.view)
            self._relay_task = self._spawn(self._relay(self._watcher), f"control-relay-{self.key}")
            self._spawn(self._watch(on_change), f"control-watch-{self.key}")
            if self._reconnects is not None:
                self._reconnects.add(f"control-watch-{self.key}", self._rewatch)
        await self.beat()
        self._spawn(self._heartbeat(), f"heartbeat-{self.key}")
        return self.view

    async def acknowledge(self, *revisions: int) -> None:
        """Record at once (not at the next heartbeat) that these revisions are applied."""
        now = self._clock.now()
        for order in self._orders.values():
            if order.revision in revisions:
                self._acks[order.key] = (order.revision, now)
        await self.beat()

    async def acknowledge_key(self, key: str, revision: int) -> None:
        """Record at once that `revision` of another bucket's `key` is applied (an account's
        parameter change, `params.{account}`: its scope is the account, as for a kill)."""
        self._acks[key] = (revision, self._clock.now())
        await self.beat()

    async def beat(self) -> None:
        assert self._components is not None, "start() first"
        body = {
            "role": self.role,
            "name": self.name,
            "account": self.account,
            "watches": self._watches,
            "ts": self._clock.now(),
            "acks": {k: {"revision": r, "ts": t} for k, (r, t) in self._acks.items()},
        }
        async with self._write_lock:  # an ack and a heartbeat never interleave out of order
            await self._components.put(self.key, json.dumps(body).encode())

    async def stop(self) -> None:
        """Stop watching and heartbeating, and leave the components bucket (a clean stop is
        not a silent component)."""
        self._stopping = True  # nats-py turns some cancellations into its own errors
        if self._reconnects is not None:
            self._reconnects.remove(f"control-watch-{self.key}")
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=5)
            for task in late:
                log.warning("%s: task %s did not stop within 5 s", self.key, task.get_name())
        self._tasks.clear()
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()
        if self._components is not None:
            with contextlib.suppress(KeyNotFoundError):
                await self._components.delete(self.key)

    def _keys(self) -> tuple[str, ...]:
        """The control keys that apply to this process."""
        if self.account:
            return (kill_key(), pause_key(), kill_key(self.account), pause_key(self.account))
        return (kill_key(), pause_key())

    def _take(self, entry: KeyValue.Entry) -> bool:
        """Fold one entry into the orders; True when it applies to this process and is newer
        than what it already knew. Only a resume record ends an order in force."""
        if entry.key not in self._keys() or entry.revision <= self._seen.get(entry.key, 0):
            return False
        self._seen[entry.key] = entry.revision
        order, lost = read_entry(entry)
        if order is not None:
            self._orders[entry.key] = order
            return True
        known = self._orders.get(entry.key)
        if known is not None and known.active:
            log.error(
                "%s: %s %s at revision %d, which is not a resume: the %s by %s stays in force",
                self.key, entry.key, lost, entry.revision, known.kind, known.requester,
            )  # fmt: skip
            self._orders[entry.key] = replace(known, kept=f"{lost} at revision {entry.revision}")
        else:
            self._orders.pop(entry.key, None)
        return True

    async def _relay(self, watcher: KeyValue.KeyWatcher) -> None:
        """One watcher's entries into the queue `_watch` reads, whichever watcher is current."""
        while True:
            entry = await watcher.updates(timeout=None)
            if entry is not None:
                self._entries.put_nowait(entry)

    async def _rewatch(self) -> None:
        """A new watcher once the connection is back (a restarted server has lost the old
        one's consumer): its first entries are each key's newest, folded in by revision like
        any other, so an order written during the outage or just after is seen at once."""
        assert self._control is not None
        watcher = await self._control.watchall()
        old_watcher, self._watcher = self._watcher, watcher
        old_relay = self._relay_task
        self._relay_task = self._spawn(self._relay(watcher), f"control-relay-{self.key}")
        if old_relay is not None:
            old_relay.cancel()
            self._tasks.remove(old_relay)
        if old_watcher is not None:
            with contextlib.suppress(Exception):
                await old_watcher.stop()

    async def _watch(self, on_change: OnChange) -> None:
        while not self._stopping:
            entry = await self._entries.get()
            if not self._take(entry):
                continue
            try:
                await on_change(self.view)
            except Exception:
                log.exception("%s: applying control order %s failed", self.key, entry.key)

    async def _heartbeat(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._cfg.heartbeat_sec)
            try:
                await self.beat()
            except Exception:  # a NATS hiccup: the next beat tries again
                log.exception("%s: heartbeat failed", self.key)

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        task.add_done_callback(_log_end)
        self._tasks.append(task)
        return task


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s failed", task.get_name(), exc_info=task.exception())
