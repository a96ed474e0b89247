"""The per-account lease that makes an order manager the only one: a KV key created (never
overwritten) by its holder and renewed by compare-and-set well inside the bucket's TTL.

A second order manager finds the key and is refused with the holder's name; a holder that dies
stops renewing and the key lapses by itself after `lease_ttl_sec`. A renewal that fails on the
revision (someone else holds it now) or cannot reach the server for a whole TTL loses the lease.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Callable

from nats.errors import Error as NatsError
from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from ops.errors import StartupError

log = logging.getLogger(__name__)
RENEWALS_PER_TTL = 3


class LeaseHeld(StartupError):
    """Another order manager holds the account."""


def holder_name(role_name: str) -> str:
    """Who holds it, as the refusal shows it: `oms.main on host (pid 123)`."""
    return f"{role_name} on {socket.gethostname()} (pid {os.getpid()})"


class Lease:
    def __init__(
        self,
        kv: KeyValue,
        key: str,
        holder: str,
        ttl_sec: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kv = kv
        self.key = key
        self.holder = holder
        self._ttl = ttl_sec
        self._monotonic = monotonic
        self._revision: int | None = None
        self._renewed_at = 0.0
        self.lost = asyncio.Event()
        self.lost_reason = ""

    @property
    def held(self) -> bool:
        return self._revision is not None and not self.lost.is_set()

    async def acquire(self) -> None:
        """Create the key; raises LeaseHeld naming the holder when it exists."""
        body = json.dumps({"holder": self.holder, "since": time.time()}).encode()
        try:
            self._revision = await self._kv.create(self.key, body)
        except KeyWrongLastSequenceError:
            raise LeaseHeld(await self._refusal()) from None
        self._renewed_at = self._monotonic()

    async def _refusal(self) -> str:
        try:
            entry = await self._kv.get(self.key)
            holder = json.loads(entry.value or b"{}").get("holder", "?")
        except (NotFoundError, ValueError):
            holder = "an order manager that just stopped"
        return (
            f"{self.key} is held by {holder}: one order manager per account; stop it first "
            f"(a holder that died releases it within {self._ttl:g}s)"
        )

    async def keep(self) -> None:
        """Renew until cancelled or lost (then `lost` is set and this returns)."""
        body = json.dumps({"holder": self.holder, "since": time.time()}).encode()
        while self.held:
            await asyncio.sleep(self._ttl / RENEWALS_PER_TTL)
            try:
                self._revision = await self._kv.update(self.key, body, last=self._revision)
                self._renewed_at = self._monotonic()
            except (KeyWrongLastSequenceError, NotFoundError):
                self._lose("another order manager took the account's lease")
            except (NatsError, TimeoutError) as exc:
                if self._monotonic() - self._renewed_at >= self._ttl:
                    self._lose(f"not renewed for {self._ttl:g}s: {exc!r}")
                else:
                    log.warning("lease %s: renewal failed, retrying: %r", self.key, exc)

    def _lose(self, reason: str) -> None:
        self.lost_reason = reason
        self.lost.set()
        log.error("lease %s lost: %s", self.key, reason)

    async def release(self) -> None:
        """A clean stop frees the account at once (only if it is still ours)."""
        if not self.held:
            return
        revision, self._revision = self._revision, None
        try:
            await self._kv.delete(self.key, last=revision)
        except (NatsError, TimeoutError, KeyWrongLastSequenceError, NotFoundError) as exc:
            log.warning("lease %s: not released (%r); it lapses by itself", self.key, exc)
