"""The `cluster:` section, checked as a whole (names that are valid NATS subject tokens,
every strategy routed to a configured account)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ops.config.settings import Settings
from ops.shared.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    nats_url: str
    partitions: int
    accounts: tuple[str, ...]
    strategies: dict[str, str]  # strategy -> account
    replicas: int
    heartbeat_sec: float
    silent_after_sec: float
    lease_ttl_sec: float
    ack_wait_sec: float
    duplicate_window_sec: float
    store_dir: str
    tls_ca_file: str = ""  # TLS to NATS: the CA that signed the server's certificate
    tls_cert_file: str = ""  # a client certificate, when the server verifies clients
    tls_key_file: str = ""

    def account_of(self, strategy: str) -> str:
        try:
            return self.strategies[strategy]
        except KeyError:
            known = ", ".join(self.strategies)
            raise ConfigError(
                f"strategy {strategy!r} is not in cluster.strategies ({known})"
            ) from None

    def check_account(self, account: str) -> str:
        if account not in self.accounts:
            known = ", ".join(self.accounts)
            raise ConfigError(f"account {account!r} is not in cluster.accounts ({known})")
        return account


def cluster_config(settings: Settings) -> ClusterConfig:
    accounts = settings.strings("cluster.accounts")
    if not accounts:
        raise ConfigError("cluster.accounts is empty: name at least one account")
    for account in accounts:
        _check_name("cluster.accounts", account)
    if len(set(accounts)) != len(accounts):
        raise ConfigError("cluster.accounts lists an account twice")
    strategies: dict[str, str] = {}
    for pair in settings.strings("cluster.strategies"):
        name, sep, account = pair.partition(":")
        if not sep:
            raise ConfigError(f"cluster.strategies: {pair!r} should be strategy:account")
        _check_name("cluster.strategies", name)
        if account not in accounts:
            raise ConfigError(
                f"cluster.strategies: {pair!r} names an account not in cluster.accounts"
            )
        if name in strategies:
            raise ConfigError(f"cluster.strategies lists {name!r} twice")
        strategies[name] = account
    if not strategies:
        raise ConfigError("cluster.strategies is empty: route at least one strategy:account")
    if settings.number("cluster.silent_after_sec") <= settings.number("cluster.heartbeat_sec"):
        raise ConfigError("cluster.silent_after_sec must exceed cluster.heartbeat_sec")
    return ClusterConfig(
        nats_url=settings.text("cluster.nats_url"),
        partitions=settings.integer("cluster.partitions"),
        accounts=accounts,
        strategies=strategies,
        replicas=settings.integer("cluster.replicas"),
        heartbeat_sec=settings.number("cluster.heartbeat_sec"),
        silent_after_sec=settings.number("cluster.silent_after_sec"),
        lease_ttl_sec=settings.number("cluster.lease_ttl_sec"),
        ack_wait_sec=settings.number("cluster.ack_wait_sec"),
        duplicate_window_sec=settings.number("cluster.duplicate_window_sec"),
        store_dir=settings.text("cluster.store_dir"),
        tls_ca_file=settings.text("cluster.tls_ca_file"),
        tls_cert_file=settings.text("cluster.tls_cert_file"),
        tls_key_file=settings.text("cluster.tls_key_file"),
    )


def _check_name(key: str, name: str) -> None:
    if not _NAME.match(name):
        raise ConfigError(f"{key}: {name!r} may hold only letters, digits, '_' and '-'")
