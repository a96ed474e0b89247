"""A cluster role's NATS connection: as the role's user, over TLS when configured, reconnecting
forever once connected; a server that does not answer or refuses the login at start-up is a
StartupError, not a traceback."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from contextlib import suppress
from typing import TYPE_CHECKING

from ops.shared.errors import ConfigError, StartupError

if TYPE_CHECKING:
    from nats.aio.client import Client

    from ops.cluster.config import ClusterConfig
    from ops.cluster.resume import Reconnects

log = logging.getLogger("tradebot")
FIRST_CONNECT_SEC = 5.0
RECONNECT_WAIT_SEC = 0.5  # between attempts: a restarted server is found within this
AUTH_REFUSED = "Authorization Violation"


async def connect(
    cfg: ClusterConfig,
    env: Mapping[str, str],
    name: str | None = None,
    reconnects: Reconnects | None = None,
) -> Client:
    """As the role's NATS user (TRADEBOT_NATS_USER and its password from the environment),
    over TLS when cluster.tls_* name the files. Reconnects forever once connected (a restarted
    nats-server is waited for, tried every RECONNECT_WAIT_SEC), each failed attempt logged on
    one line; once back, `reconnects` has every subscription resumed at once. A server that
    does not answer within FIRST_CONNECT_SEC at start-up, or refuses the login, is a
    StartupError (exit 2), not a traceback."""
    import nats

    from ops.cluster.credentials import USER_ENV, login_from_env

    url = cfg.nats_url
    login = login_from_env(env)
    tls = await asyncio.to_thread(tls_context, cfg)
    refused = asyncio.get_running_loop().create_future()

    async def report(exc: Exception) -> None:
        log.warning("NATS %s: %s", url, exc)
        # at the first connect nats-py reports the server's -ERR as a plain Error
        refusal = isinstance(exc, nats.errors.AuthorizationError) or AUTH_REFUSED in str(exc)
        if refusal and not refused.done():
            refused.set_result(exc)

    async def back() -> None:
        log.info("NATS %s: reconnected", url)
        if reconnects is not None:
            await reconnects()

    connecting = asyncio.ensure_future(
        nats.connect(
            url,
            name=name,
            connect_timeout=2,
            max_reconnect_attempts=-1,
            reconnect_time_wait=RECONNECT_WAIT_SEC,
            error_cb=report,
            reconnected_cb=back,
            tls=tls,
            **(login.options() if login else {}),  # type: ignore[arg-type]
        )
    )
    done, _ = await asyncio.wait({connecting, refused}, timeout=FIRST_CONNECT_SEC)
    if connecting in done:
        try:
            return connecting.result()
        except (OSError, nats.errors.Error) as exc:
            raise StartupError(f"cannot reach NATS at {url}: {exc}") from exc
    connecting.cancel()
    with suppress(asyncio.CancelledError, Exception):
        await connecting
    if refused.done():
        who = f"as {login.user}" if login else f"without a user ({USER_ENV} is not set)"
        raise StartupError(f"NATS at {url} refused the connection {who}: check the credentials")
    raise StartupError(f"cannot reach NATS at {url}: no answer within {FIRST_CONNECT_SEC:g}s")


def tls_context(cfg: ClusterConfig) -> ssl.SSLContext | None:
    """TLS to NATS when cluster.tls_ca_file (the server's CA) or a client certificate is set."""
    if not (cfg.tls_ca_file or cfg.tls_cert_file or cfg.tls_key_file):
        return None
    if bool(cfg.tls_cert_file) != bool(cfg.tls_key_file):
        raise ConfigError("cluster.tls_cert_file and cluster.tls_key_file go together")
    try:
        context = ssl.create_default_context(cafile=cfg.tls_ca_file or None)
        if cfg.tls_cert_file:
            context.load_cert_chain(cfg.tls_cert_file, cfg.tls_key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cluster.tls_*: {exc}") from None
    return context
