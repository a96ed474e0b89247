"""The per-account lease that makes an order manager the only one: a KV key created (never
overwritten) by its holder and renewed by compare-and-set well inside the bucket's TTL.

A second order manager finds the key and is refused with the holder's name; a holder that dies
stops renewing and the key lapses by itself after `lease_ttl_sec`. A holder that cannot reach
the server for a whole TTL no longer holds (it must not send) but keeps trying: once the server
answers it renews, or re-creates a key that lapsed meanwhile. Only another holder's key ends
it: the lease is lost, naming that holder.
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
        self._renewed = asyncio.Event()  # set at each renewal and at the loss
        self.lost = asyncio.Event()
        self.lost_reason = ""

    @property
    def held(self) -> bool:
        """Renewed within the TTL, by this process's monotonic clock."""
        return (
            self._revision is not None
            and not self.lost.is_set()
            and self._monotonic() - self._renewed_at < self._ttl
        )

    async def until_held(self) -> None:
        """Return once held again (renewed after an outage), or lost."""
        while not (self.held or self.lost.is_set()):
            self._renewed.clear()
            await self._renewed.wait()

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
            holder = _holder_of((await self._kv.get(self.key)).value)
        except NotFoundError:
            holder = "an order manager that just stopped"
        return (
            f"{self.key} is held by {holder}: one order manager per account; stop it first "
            f"(a holder that died releases it within {self._ttl:g}s)"
        )

    async def keep(self) -> None:
        """Renew until cancelled or lost (then `lost` is set and this returns)."""
        body = json.dumps({"holder": self.holder, "since": time.time()}).encode()
        while self._revision is not None and not self.lost.is_set():
            await asyncio.sleep(self._ttl / RENEWALS_PER_TTL)
            was_held = self.held
            try:
                try:
                    revision = await self._kv.update(self.key, body, last=self._revision)
                except (KeyWrongLastSequenceError, NotFoundError):
                    revision = await self._reclaim(body)
            except (NatsError, TimeoutError) as exc:
                if was_held and not self.held:
                    log.error(
                        "lease %s: not renewed within %gs, no sends: %r", self.key, self._ttl, exc
                    )
                else:
                    log.warning("lease %s: renewal failed, retrying: %r", self.key, exc)
                continue
            if revision is None:
                return
            self._revision, self._renewed_at = revision, self._monotonic()
            self._renewed.set()
            if not was_held:
                log.warning("lease %s: renewed again, sending resumes", self.key)

    async def _reclaim(self, body: bytes) -> int | None:
        """The key is not at our revision: ours still (a renewal the server applied but whose
        reply was lost), lapsed (re-created now), or another holder's (lost; None)."""
        try:
            entry = await self._kv.get(self.key)
        except NotFoundError:  # lapsed or deleted: nobody holds it
            try:
                return await self._kv.create(self.key, body)
            except KeyWrongLastSequenceError:
                entry = await self._kv.get(self.key)
        holder = _holder_of(entry.value)
        if holder == self.holder:
            return entry.revision
        self._lose(f"{self.key} is held by {holder}")
        return None

    def _lose(self, reason: str) -> None:
        self.lost_reason = reason
        self.lost.set()
        self._renewed.set()
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


def _holder_of(value: bytes | None) -> str:
    try:
        return str(json.loads(value or b"{}").get("holder", "?"))
    except (ValueError, AttributeError):
        return "?"
