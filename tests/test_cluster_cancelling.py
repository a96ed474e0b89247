"""A stop never hangs on a cancellation that nats-py answered as a timeout (Python 3.11's
asyncio.wait_for can, when the wait's own timeout fires at the same moment): a lease's renewal
took it for a failed renewal and renewed on, so releasing the lease waited forever (a full test
run hung in test_cluster_lease)."""

from __future__ import annotations

import asyncio

from ops.cluster.lease import Lease


class RacingBucket:
    """A KV bucket whose update turns a cancellation into a timeout, as wait_for can."""

    def __init__(self) -> None:
        self.updates = 0
        self.updating = asyncio.Event()

    async def create(self, key: str, value: bytes) -> int:
        return 1

    async def update(self, key: str, value: bytes, last: int | None = None) -> int:
        self.updates += 1
        self.updating.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise TimeoutError from None
        return 2

    async def delete(self, key: str, last: int | None = None) -> bool:
        return True


async def test_releasing_a_lease_mid_renewal_ends_though_the_renewal_said_timeout() -> None:
    """The renewal task is asked to stop while its update waits: it stops, and release ends."""
    bucket = RacingBucket()
    lease = Lease(bucket, "oms.main", "oms.main on test", ttl_sec=0.03)  # type: ignore[arg-type]
    await lease.acquire()
    await bucket.updating.wait()
    release = asyncio.create_task(lease.release())
    done, _ = await asyncio.wait([release], timeout=30)  # a guard against a hang, not a measure
    assert release in done
    assert bucket.updates == 1
