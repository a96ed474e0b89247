"""What each NATS user may publish and subscribe to: the server's `authorization` block.

Least privilege, by role: the ingestor publishes bars; a worker publishes its strategy's intents
and consumes its strategy's bar partitions; an order manager consumes its account's intents and
writes its account's executions, lease, parameters, heartbeat and incidents; only the gateway
writes the control bucket and consumes the incidents.
Every role may create (never update or delete) the streams and buckets it uses, read the control
bucket and write its own heartbeat. JetStream's API is subjects too ($JS.API.>, $KV.<bucket>.>,
$JS.ACK.<stream>.<consumer>.>, replies on the user's own _INBOX.<user>.>), so each is listed
precisely; a durable consumer that is not the user's own is denied by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ops.cluster.config import ClusterConfig
from ops.cluster.credentials import (
    ADMIN,
    GATEWAY,
    INGEST,
    Login,
    inbox_prefix,
    oms_user,
    worker_user,
)
from ops.cluster.subjects import (
    BARS_STREAM,
    COMPONENTS_BUCKET,
    CONTROL_BUCKET,
    EXEC_STREAM,
    GATEWAY_INCIDENTS,
    INCIDENTS_STREAM,
    INTENTS_STREAM,
    LEASES_BUCKET,
    PARAMS_BUCKET,
    bar_subject,
    consumer_name,
    incident_ack_subject,
    incident_subject,
    intent_filter,
    lease_key,
    oms_consumer,
    params_key,
)

API = "$JS.API"
STREAMS = (BARS_STREAM, INTENTS_STREAM, EXEC_STREAM, INCIDENTS_STREAM)


def kv_stream(bucket: str) -> str:
    return f"KV_{bucket}"


@dataclass(frozen=True, slots=True)
class Layout:
    """The names permissions are written for: accounts, strategy -> account, partitions."""

    accounts: tuple[str, ...]
    strategies: Mapping[str, str]
    partitions: int

    @classmethod
    def of(cls, cfg: ClusterConfig) -> Layout:
        return cls(cfg.accounts, dict(cfg.strategies), cfg.partitions)

    def users(self) -> list[str]:
        return [
            ADMIN,
            GATEWAY,
            INGEST,
            *(oms_user(a) for a in self.accounts),
            *(worker_user(s) for s in self.strategies),
        ]

    def durables(self) -> dict[str, set[tuple[str, str]]]:
        """user -> the (stream, durable consumer) pairs that user owns."""
        owned: dict[str, set[tuple[str, str]]] = {
            oms_user(a): {(INTENTS_STREAM, oms_consumer(a))} for a in self.accounts
        }
        owned[GATEWAY] = {(INCIDENTS_STREAM, GATEWAY_INCIDENTS)}
        for strategy in self.strategies:
            owned[worker_user(strategy)] = {
                (BARS_STREAM, consumer_name(strategy, p)) for p in range(self.partitions)
            }
        return owned


@dataclass(frozen=True, slots=True)
class Grant:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    deny_publish: tuple[str, ...] = ()
    responses: bool = False  # may answer requests (the order manager's commands)

    def as_conf(self) -> dict[str, object]:
        publish: dict[str, object] = {"allow": list(dict.fromkeys(self.publish))}
        if self.deny_publish:
            publish["deny"] = list(self.deny_publish)
        conf: dict[str, object] = {"publish": publish, "subscribe": {"allow": list(self.subscribe)}}
        if self.responses:
            conf["allow_responses"] = True
        return conf


def grant(layout: Layout, user: str) -> Grant:
    if user == ADMIN:
        return Grant(publish=(">",), subscribe=(">",))
    base = [f"{API}.INFO", f"{API}.STREAM.NAMES", "$JS.FC.>"]
    for stream in (*STREAMS, kv_stream(CONTROL_BUCKET), kv_stream(COMPONENTS_BUCKET)):
        base += [f"{API}.STREAM.CREATE.{stream}", f"{API}.STREAM.INFO.{stream}"]
    deny = _foreign_durables(layout, user)
    inbox = (f"{inbox_prefix(user)}.>",)
    if user == INGEST:
        publish = (*base, "md.bar.>", _heartbeat("ingest.>"), _incidents_of("ingest.*", INGEST))
        return Grant(publish, (*inbox, _incident_acks_of("ingest.*")), deny, responses=True)
    if user == GATEWAY:
        publish = [*base, f"$KV.{CONTROL_BUCKET}.>", _heartbeat("gateway.>"), "cmd.*"]
        for bucket in (CONTROL_BUCKET, COMPONENTS_BUCKET):
            publish += _kv_read(bucket)
        publish += [
            incident_ack_subject(">"),  # an Acknowledge clicked, to the process that owns it
            *_durable(INCIDENTS_STREAM, GATEWAY_INCIDENTS, "incident.>"),
        ]
        return Grant(tuple(publish), inbox, deny)
    for account in layout.accounts:
        if user == oms_user(account):
            return _oms(layout, account, base, deny)
    for strategy, account in layout.strategies.items():
        if user == worker_user(strategy):
            return _worker(layout, strategy, account, base, deny)
    raise ValueError(f"no permissions for NATS user {user!r}")


def _oms(layout: Layout, account: str, base: list[str], deny: tuple[str, ...]) -> Grant:
    leases = kv_stream(LEASES_BUCKET)
    publish = [
        *base,
        f"exec.{account}.>",
        f"$KV.{LEASES_BUCKET}.{lease_key(account)}",
        _heartbeat(f"oms.{account}"),
        f"{API}.STREAM.CREATE.{leases}",
        f"{API}.STREAM.INFO.{leases}",
        f"{API}.DIRECT.GET.{leases}.$KV.{LEASES_BUCKET}.{lease_key(account)}",
        f"{API}.STREAM.MSG.GET.{leases}",  # the subject to read is in the request
        *_kv_read(CONTROL_BUCKET),
        *_durable(INTENTS_STREAM, oms_consumer(account), intent_filter(account)),
        # takeover: the unacknowledged intents, by sequence (the subject is in the request)
        f"{API}.STREAM.MSG.GET.{INTENTS_STREAM}",
        *_ephemeral(BARS_STREAM),  # marks
        _incidents_of(f"oms.{account}", account),
        f"$KV.{PARAMS_BUCKET}.{params_key(account)}",
        *_params_read(account),
    ]
    subscribe = (
        f"{inbox_prefix(oms_user(account))}.>",
        f"cmd.{account}",
        _incident_acks_of(f"oms.{account}"),
    )
    return Grant(tuple(publish), subscribe, deny, responses=True)


def _worker(
    layout: Layout, strategy: str, account: str, base: list[str], deny: tuple[str, ...]
) -> Grant:
    publish = [
        *base,
        f"intent.{account}.{strategy}.>",
        # a worker's component name is {strategy}-pAA-BB, one subject token: not pinnable
        _heartbeat("worker.>"),
        *_kv_read(CONTROL_BUCKET),
        f"{API}.STREAM.MSG.GET.{BARS_STREAM}",  # finding where a replay starts
        *_ephemeral(BARS_STREAM),
        *_ephemeral(INTENTS_STREAM),  # its own intents, read back at a restart
        *_ephemeral(EXEC_STREAM),  # its fills (the filters are in the request, not the subject)
        *_params_read(account),
    ]
    for partition in range(layout.partitions):
        name = consumer_name(strategy, partition)
        publish += _durable(BARS_STREAM, name, bar_subject(partition))
    return Grant(tuple(publish), (f"{inbox_prefix(worker_user(strategy))}.>",), deny)


def _heartbeat(key: str) -> str:
    return f"$KV.{COMPONENTS_BUCKET}.{key}"


def _incidents_of(process: str, scope: str) -> str:
    """Its own incidents: incident.{account or role}.{role}.{name}, process = role.name."""
    role, name = process.split(".", 1)
    return incident_subject(scope, role, name)


def _incident_acks_of(process: str) -> str:
    """The Acknowledge requests for its own incidents, which it answers."""
    return incident_ack_subject(process)


def _params_read(account: str) -> list[str]:
    """The account's parameter overrides: create the bucket, get and watch its key (a watch is
    an ordered consumer, its filter in the request)."""
    stream = kv_stream(PARAMS_BUCKET)
    return [
        f"{API}.STREAM.CREATE.{stream}",
        f"{API}.STREAM.INFO.{stream}",
        f"{API}.DIRECT.GET.{stream}.$KV.{PARAMS_BUCKET}.{params_key(account)}",
        f"{API}.STREAM.MSG.GET.{stream}",
        *_ephemeral(stream),
    ]


def _kv_read(bucket: str) -> list[str]:
    """Get any key, watch the bucket (an ordered consumer)."""
    stream = kv_stream(bucket)
    return [
        f"{API}.DIRECT.GET.{stream}.>",
        f"{API}.STREAM.MSG.GET.{stream}",
        f"{API}.STREAM.INFO.{stream}",
        *_ephemeral(stream),
    ]


def _ephemeral(stream: str) -> list[str]:
    """Create, read and delete consumers without a durable name (their names are random; the
    durables of other users are denied by name)."""
    return [
        f"{API}.CONSUMER.CREATE.{stream}",
        f"{API}.CONSUMER.CREATE.{stream}.*",  # named by a random id, its filter in the request
        f"{API}.CONSUMER.INFO.{stream}.*",
        f"{API}.CONSUMER.MSG.NEXT.{stream}.*",
        f"{API}.CONSUMER.DELETE.{stream}.*",
    ]


def _durable(stream: str, name: str, filter_subject: str) -> list[str]:
    """One durable consumer, created by name with its filter in the subject, so the filter
    cannot be another one."""
    return [
        f"{API}.CONSUMER.CREATE.{stream}.{name}.{filter_subject}",
        f"{API}.CONSUMER.INFO.{stream}.{name}",
        f"{API}.CONSUMER.MSG.NEXT.{stream}.{name}",
        f"{API}.CONSUMER.DELETE.{stream}.{name}",
        f"$JS.ACK.{stream}.{name}.>",
    ]


def _foreign_durables(layout: Layout, user: str) -> tuple[str, ...]:
    """Every durable consumer of another user: not to be pulled from, deleted or replaced."""
    denied = []
    for owner, pairs in layout.durables().items():
        if owner == user:
            continue
        for stream, name in sorted(pairs):
            denied += [
                f"{API}.CONSUMER.MSG.NEXT.{stream}.{name}",
                f"{API}.CONSUMER.DELETE.{stream}.{name}",
                f"{API}.CONSUMER.CREATE.{stream}.{name}",
                f"{API}.CONSUMER.CREATE.{stream}.{name}.>",
                f"{API}.CONSUMER.DURABLE.CREATE.{stream}.{name}",
            ]
    return tuple(denied)


def authorization(layout: Layout, logins: Mapping[str, Login]) -> str:
    """The server configuration's `authorization` block with these users' passwords (a local
    run's; the file holding it must be private)."""
    missing = set(layout.users()) - set(logins)
    if missing:
        raise ValueError(f"no login for {', '.join(sorted(missing))}")
    return _block(layout, {user: json.dumps(logins[user].password) for user in layout.users()})


def authorization_from_env(layout: Layout) -> str:
    """The same block for a deployment: each password is a variable the nats-server reads from
    its own environment (`password_variable`), so the file holds no secret."""
    return _block(layout, {user: "$" + password_variable(user) for user in layout.users()})


def password_variable(user: str) -> str:
    """oms.main -> TRADEBOT_NATS_PASSWORD_OMS_MAIN"""
    return "TRADEBOT_NATS_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", user.upper())


def _block(layout: Layout, passwords: Mapping[str, str]) -> str:
    """NATS configuration syntax; JSON values are valid in it, and an unquoted $NAME is a
    variable."""
    users = [
        f"    {{user: {json.dumps(user)}, password: {passwords[user]},\n"
        f"     permissions: {json.dumps(grant(layout, user).as_conf())}}}"
        for user in layout.users()
    ]
    return "authorization {\n  users: [\n" + "\n".join(users) + "\n  ]\n}\n"
