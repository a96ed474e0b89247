"""Creating (or finding) the streams and buckets every role relies on; idempotent, so any role
may call it at start-up."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from nats.js.kv import KeyValue

from ops.cluster.config import ClusterConfig
from ops.cluster.subjects import (
    BARS_STREAM,
    COMPONENTS_BUCKET,
    CONTROL_BUCKET,
    EXEC_STREAM,
    INCIDENTS_STREAM,
    INTENTS_STREAM,
    LEASES_BUCKET,
    PARAMS_BUCKET,
)

DAY_SEC = 86_400.0


async def ensure_streams(js: JetStreamContext, cfg: ClusterConfig) -> None:
    """File storage everywhere; the duplicate window is what lets a re-published bar, intent or
    execution (same message id) be dropped by the server."""
    for name, subjects, max_age in (
        (BARS_STREAM, ["md.bar.>"], 7 * DAY_SEC),
        (INTENTS_STREAM, ["intent.>"], 30 * DAY_SEC),
        (EXEC_STREAM, ["exec.>"], 30 * DAY_SEC),
        (INCIDENTS_STREAM, ["incident.>"], 7 * DAY_SEC),  # the journals keep every one
    ):
        config = StreamConfig(
            name=name,
            subjects=subjects,
            storage=StorageType.FILE,
            num_replicas=cfg.replicas,
            duplicate_window=cfg.duplicate_window_sec,
            max_age=max_age,
        )
        try:
            await js.add_stream(config)
        except BadRequestError:  # exists with other settings: bring it to these
            await js.update_stream(config)


async def control_bucket(js: JetStreamContext, cfg: ClusterConfig) -> KeyValue:
    """kill.* and pause.* with requester and time; history so a watcher sees every change."""
    return await _bucket(js, cfg, CONTROL_BUCKET, history=16, ttl=None)


async def components_bucket(js: JetStreamContext, cfg: ClusterConfig) -> KeyValue:
    """Each role's heartbeat; a key not refreshed for a day is gone."""
    return await _bucket(js, cfg, COMPONENTS_BUCKET, history=1, ttl=DAY_SEC)


async def leases_bucket(js: JetStreamContext, cfg: ClusterConfig) -> KeyValue:
    """A lease not renewed within lease_ttl_sec lapses by itself (the holder died)."""
    return await _bucket(js, cfg, LEASES_BUCKET, history=1, ttl=cfg.lease_ttl_sec)


async def params_bucket(js: JetStreamContext, cfg: ClusterConfig) -> KeyValue:
    """Each account's parameter overrides in force (`set`/`reset` through the gateway)."""
    return await _bucket(js, cfg, PARAMS_BUCKET, history=16, ttl=None)


async def _bucket(
    js: JetStreamContext, cfg: ClusterConfig, name: str, history: int, ttl: float | None
) -> KeyValue:
    return await js.create_key_value(
        KeyValueConfig(
            bucket=name,
            history=history,
            ttl=ttl,
            storage=StorageType.FILE,
            replicas=cfg.replicas,
        )
    )
