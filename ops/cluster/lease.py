"""The per-account lease that makes an order manager the only one: a KV key created (never
overwritten) by its holder and renewed by compare-and-set well inside the bucket's TTL.

A second order manager finds the key and is refused with the holder's name; a holder that dies
stops renewing and the key lapses by itself after `lease_ttl_sec`. Renewal starts the moment the
key is created (broker start-up and recovery included), on a task of its own.

`held` is a proof by the monotonic clock, not a flag: the last renewal the server accepted was
sent less than the TTL minus a margin ago. The server's TTL counts from when it received that
renewal, later than we sent it, so while `held` is true no one else can have created the key; the
margin covers the time an order takes from the check to the broker. A stalled event loop, a
renewal the server did not answer or a key someone else took all make `held` false at once, with
no task having to run. A holder that cannot reach the server keeps trying: once the server
answers it renews, takes back its own key (a renewal applied whose reply was lost), or re-creates
a key that lapsed meanwhile. Only another holder's key ends it: the lease is lost, naming that
holder.
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

from ops.cluster.cancelling import raise_if_cancelling
from ops.shared.errors import StartupError

log = logging.getLogger(__name__)
RENEWALS_PER_TTL = 3
MARGIN_OF_TTL = 0.25  # `held` ends this share of the TTL before the server would let it lapse


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
        self._renewed_at = 0.0  # when the last renewal the server accepted was sent
        self._renewing: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()  # a renewal accepted, or the lease lost
        self.lost = asyncio.Event()
        self.lost_reason = ""

    @property
    def held(self) -> bool:
        """Provably ours right now. Safe to ask from any thread (the one that sends)."""
        return self.unproven() is None

    def unproven(self) -> str | None:
        """Why the lease cannot be proven ours right now, or None while it can."""
        if self._revision is None:
            return "the lease is not held"
        if self.lost.is_set():
            return f"the lease was lost ({self.lost_reason})"
        age = self._monotonic() - self._renewed_at
        if age >= self._ttl * (1 - MARGIN_OF_TTL):
            return f"the lease was last renewed {age:.1f}s ago, on a {self._ttl:g}s TTL"
        return None

    async def acquire(self) -> None:
        """Create the key and start renewing it; raises LeaseHeld naming the holder when it
        exists."""
        body = json.dumps({"holder": self.holder, "since": time.time()}).encode()
        sent_at = self._monotonic()
        try:
            self._revision = await self._kv.create(self.key, body)
        except KeyWrongLastSequenceError:
            raise LeaseHeld(await self._refusal()) from None
        self._renewed_at = sent_at
        self._renewing = asyncio.get_running_loop().create_task(
            self._keep(), name=f"lease:{self.key}"
        )
        self._renewing.add_done_callback(self._renewing_ended)

    async def _refusal(self) -> str:
        try:
            holder = _holder_of((await self._kv.get(self.key)).value)
        except NotFoundError:
            holder = "an order manager that just stopped"
        return (
            f"{self.key} is held by {holder}: one order manager per account; stop it first "
            f"(a holder that died releases it within {self._ttl:g}s)"
        )

    async def proven(self) -> None:
        """Until the lease is provably ours again, or lost."""
        while self.unproven() is not None and not self.lost.is_set():
            self._changed.clear()
            await self._changed.wait()

    async def _keep(self) -> None:
        """Renew until released or lost (then `lost` is set and this returns)."""
        body = json.dumps({"holder": self.holder, "since": time.time()}).encode()
        while not self.lost.is_set():
            await asyncio.sleep(self._ttl / RENEWALS_PER_TTL)
            was_held = self.held
            sent_at = self._monotonic()
            try:
                try:
                    revision = await self._kv.update(self.key, body, last=self._revision)
                except (KeyWrongLastSequenceError, NotFoundError):
                    revision = await self._reclaim(body)
            except (NatsError, TimeoutError) as exc:
                raise_if_cancelling()
                if was_held and not self.held:
                    log.error("lease %s: not renewed in time, no sends: %r", self.key, exc)
                else:
                    log.warning("lease %s: renewal failed, retrying: %r", self.key, exc)
                continue
            if revision is None:
                return
            self._revision, self._renewed_at = revision, sent_at
            self._changed.set()
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

    def _renewing_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._lose(f"renewal failed: {task.exception()!r}")

    def _lose(self, reason: str) -> None:
        self.lost_reason = reason
        self.lost.set()
        self._changed.set()
        log.error("lease %s lost: %s", self.key, reason)

    async def release(self) -> None:
        """Stop renewing; a clean stop frees the account at once (only if it is still ours)."""
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.gather(self._renewing, return_exceptions=True)
            self._renewing = None
        if self._revision is None or self.lost.is_set():
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
