"""An account's parameter changes across the cluster: the params bucket holds, per account,
the operators' overrides in force (`params.{account}`), written by the account's order manager
when a `set`/`reset` is confirmed, and applied by every process of the account (the order
manager's risk gate, every worker's engine and pre-check gate), each acknowledging the revision
it applied in its heartbeat (the gateway's "acknowledged by N of M").

The bucket is the cluster's record: a process that starts reads it before it decides anything,
so a restarted worker comes back with the changed values. The order manager also journals every
change (param_changes, as `tradebot run` does); one that starts with a journal that differs from
the bucket takes the bucket's values and journals the difference, and one that finds the bucket
empty seeds it from its journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from ops.cluster.config import ClusterConfig
from ops.cluster.control import ControlPlane
from ops.cluster.streams import params_bucket
from ops.cluster.subjects import params_key
from ops.config.param_spec import parse_value
from ops.config.params_registry import BY_PATH
from ops.config.settings import Settings, SettingsHolder
from ops.journal.access import ParamChanges
from ops.shared.errors import ConfigError
from ops.shared.formatting import format_value
from strategy.clock import Clock, SystemClock
from strategy.engine import Engine
from strategy.risk import RiskGate

log = logging.getLogger(__name__)
SEEDED_BY = "journal"  # the record an order manager writes from its journal's overrides


@dataclass(frozen=True, slots=True)
class ParamsRecord:
    """One revision of an account's overrides: every override in force (not only the one
    changed), who changed them, and whether the change applies to open positions."""

    revision: int
    overrides: dict[str, str]  # path -> value as text (parse_value reads it back)
    by: str
    apply_open: bool


Apply = Callable[[ParamsRecord], None]  # raises ConfigError when the values cannot apply


def overrides_of(settings: Settings) -> dict[str, str]:
    """The overrides in force, as the journal writes them."""
    return {path: format_value(v) for path, v in settings.layers.get("override", {}).items()}


def with_overrides(settings: Settings, overrides: Mapping[str, str]) -> Settings:
    """`settings` with exactly these overrides; ConfigError if one is unknown or out of range,
    or if together they fail the cross-checks."""
    result = settings
    for path in overrides_of(settings).keys() - overrides.keys():
        result = result.without_override(path)
    for path, text in overrides.items():
        spec = BY_PATH.get(path)
        if spec is None:
            raise ConfigError(f"{path} is not a known setting")
        result = result.with_override(path, parse_value(spec, text))
    return result


async def publish_params(
    js: JetStreamContext,
    cfg: ClusterConfig,
    account: str,
    settings: Settings,
    by: str,
    apply_open: bool,
    clock: Clock | None = None,
) -> int:
    """Write the account's overrides in force; the revision every process acknowledges."""
    bucket = await params_bucket(js, cfg)
    body = {
        "overrides": overrides_of(settings),
        "by": by,
        "apply_open": apply_open,
        "ts": (clock or SystemClock()).now(),
    }
    return await bucket.put(params_key(account), json.dumps(body).encode())


def _record(entry: KeyValue.Entry) -> ParamsRecord | None:
    if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
        return None
    body = json.loads(entry.value)
    return ParamsRecord(
        revision=entry.revision,
        overrides={str(k): str(v) for k, v in body["overrides"].items()},
        by=str(body["by"]),
        apply_open=bool(body["apply_open"]),
    )


class ParamsFollower:
    """One process's side: read the account's overrides before deciding anything (`load`),
    then apply every new revision and acknowledge it (`follow`)."""

    def __init__(self, js: JetStreamContext, cfg: ClusterConfig, account: str, apply: Apply):
        self._js = js
        self._cfg = cfg
        self.key = params_key(account)
        self._apply = apply
        self._bucket: KeyValue | None = None
        self._watcher: KeyValue.KeyWatcher | None = None
        self._task: asyncio.Task[None] | None = None
        self.applied = 0  # the revision in force here; 0: none read yet

    async def load(self) -> ParamsRecord | None:
        """The revision in force, applied; None when the account has no record yet. A record
        that cannot apply here raises ConfigError (a start-up refusal)."""
        self._bucket = await params_bucket(self._js, self._cfg)
        self._watcher = await self._bucket.watch(self.key)  # first: no change in between lost
        try:
            record = _record(await self._bucket.get(self.key))
        except (KeyNotFoundError, KeyDeletedError):
            return None
        if record is not None:
            self._apply(record)
            self.applied = record.revision
        return record

    async def follow(self, control: ControlPlane) -> None:
        """Acknowledge the revision loaded, then apply and acknowledge each new one."""
        assert self._watcher is not None, "load() first"
        if self.applied:
            await control.acknowledge_key(self.key, self.applied)
        self._task = asyncio.create_task(self._watch(control), name=f"params-{self.key}")

    async def _watch(self, control: ControlPlane) -> None:
        assert self._watcher is not None
        while True:
            entry = await self._watcher.updates(timeout=None)
            if entry is None or entry.revision <= self.applied:
                continue
            record = _record(entry)
            if record is None:
                continue  # a deleted record changes nothing: the values in force stay
            try:
                self._apply(record)
            except ConfigError as exc:  # not acknowledged: the gateway names this process
                log.error("%s revision %d not applied: %s", self.key, record.revision, exc)
                continue
            self.applied = record.revision
            log.info("%s revision %d applied (by %s)", self.key, record.revision, record.by)
            try:
                await control.acknowledge_key(self.key, record.revision)
            except Exception:  # a NATS hiccup: the next heartbeat carries the ack
                log.exception("%s: acknowledging revision %d failed", self.key, record.revision)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()


def engine_applier(engine: Engine, gate: RiskGate, base: Settings) -> Apply:
    """A worker's engine: strategy parameters, and its gate's pre-check risk limits."""

    def apply(record: ParamsRecord) -> None:
        settings = with_overrides(base, record.overrides)
        engine.set_params(settings.strategy_params(), record.apply_open)
        gate.set_limits(settings.risk_limits())

    return apply


def holder_applier(holder: SettingsHolder, journal: ParamChanges) -> Apply:
    """An order manager: its own change is already in force (nothing to do); one it did not
    make (another process's journal) is applied and journaled, so the journal agrees."""

    def apply(record: ParamsRecord) -> None:
        previous = holder.settings
        current = overrides_of(previous)
        if current == record.overrides:
            return
        holder.apply_settings(with_overrides(previous, record.overrides), record.apply_open)
        for path in sorted(current.keys() | record.overrides.keys()):
            old, new = current.get(path), record.overrides.get(path)
            if old == new:
                continue
            before = old if old is not None else format_value(previous.get(path))
            action = "set" if new is not None else "reset"
            journal.record_param_change(
                path, before, new, f"{record.by} (from the cluster)", action, record.apply_open
            )

    return apply


async def load_account_params(
    js: JetStreamContext,
    cfg: ClusterConfig,
    account: str,
    holder: SettingsHolder,
    journal: ParamChanges,
) -> ParamsFollower:
    """The order manager's follower, its values in force before it takes an intent: the
    bucket's record applied, or, with none, the journal's overrides written as the first.
    `follow(control)` once the control plane runs."""
    follower = ParamsFollower(js, cfg, account, holder_applier(holder, journal))
    if await follower.load() is None and overrides_of(holder.settings):
        follower.applied = await publish_params(
            js, cfg, account, holder.settings, SEEDED_BY, apply_open=False
        )
    return follower
