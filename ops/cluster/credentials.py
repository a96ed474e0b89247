"""Who connects to NATS: one user per role (and per account or strategy), its password read
from the environment, never from config.yaml; `tradebot cluster` generates them for a local run.

TRADEBOT_NATS_USER and TRADEBOT_NATS_PASSWORD name the role's user (or TRADEBOT_NATS_PASSWORD_FILE
a file holding the password, for secret stores that mount files). Users: `admin` (setup and
tests only), `gateway`, `ingest`, `oms.{account}`, `worker.{strategy}`; what each may do is in
ops/cluster/permissions.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ops.shared.errors import ConfigError

USER_ENV = "TRADEBOT_NATS_USER"
PASSWORD_ENV = "TRADEBOT_NATS_PASSWORD"
PASSWORD_FILE_ENV = "TRADEBOT_NATS_PASSWORD_FILE"
ADMIN = "admin"
GATEWAY = "gateway"
INGEST = "ingest"


def oms_user(account: str) -> str:
    return f"oms.{account}"


def worker_user(strategy: str) -> str:
    return f"worker.{strategy}"


@dataclass(frozen=True, slots=True)
class Login:
    user: str
    password: str = field(repr=False)

    def env(self) -> dict[str, str]:
        """What a role process is given to connect as this user."""
        return {USER_ENV: self.user, PASSWORD_ENV: self.password}

    def options(self) -> dict[str, object]:
        """nats.connect keyword arguments. Replies come to an inbox only this user may read,
        so no other client can read the intents and executions delivered to it."""
        options: dict[str, object] = {"user": self.user, "password": self.password}
        if self.user != ADMIN:
            options["inbox_prefix"] = inbox_prefix(self.user)
        return options


def inbox_prefix(user: str) -> str:
    return f"_INBOX.{user}"


def login_from_env(env: Mapping[str, str]) -> Login | None:
    """The role's login, or None when the environment names none (an unauthenticated server)."""
    user = env.get(USER_ENV, "")
    password = env.get(PASSWORD_ENV, "")
    password_file = env.get(PASSWORD_FILE_ENV, "")
    if password_file and not password:
        try:
            password = Path(password_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{PASSWORD_FILE_ENV}: cannot read it ({exc.strerror})") from None
    if not user and not password:
        return None
    if not user or not password:
        raise ConfigError(
            f"set both {USER_ENV} and {PASSWORD_ENV} (or {PASSWORD_FILE_ENV}) for NATS, or neither"
        )
    return Login(user, password)


def generate_logins(
    users: Iterable[str], given: Mapping[str, str] | None = None
) -> dict[str, Login]:
    """A fresh random password for each user (a local run's, gone when it ends), unless one is
    given for it."""
    given = given or {}
    return {user: Login(user, given.get(user) or secrets.token_urlsafe(24)) for user in users}
