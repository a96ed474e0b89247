"""One sender per account: an order manager's lease is a proof by the monotonic clock, renewed
from the moment it is taken, and asked in the thread that sends, immediately before each order
goes out. A real nats-server; the real alpaca-py clients against the loopback Alpaca."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nats
import pytest
from aiohttp import web
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from bot.oms_cli import start_oms
from ops.cluster.config import cluster_config
from ops.cluster.credentials import oms_user
from ops.cluster.lease import RENEWALS_PER_TTL, Lease, LeaseHeld
from ops.cluster.server import LocalNats
from ops.cluster.streams import leases_bucket
from ops.cluster.subjects import lease_key
from ops.config.settings import load_settings
from strategy.types import OrderStatus
from tests.fakes.alpaca import AlpacaFake
from tests.support import eventually
from tests.test_cluster_oms import (
    ACCOUNT,
    COID,
    PRICE,
    alpaca_config,
    alpaca_env,
    connect,
    entry,
    exec_updates,
    intents_done,
    oms_config,
    publish_intent,
    publish_mark,
)

TTL = 2.0  # oms_config's cluster.lease_ttl_sec
KEY = lease_key(ACCOUNT)
NEXT = "tb-SPY-1767364260-e"


class StepClock:
    """A monotonic clock the test moves: a stalled event loop, without stalling one."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def leases(tmp_path: Path, server: LocalNats) -> tuple[nats.NATS, KeyValue]:
    """The leases bucket as another process sees it (the caller closes the connection)."""
    nc, js = await connect(server)
    cfg = cluster_config(load_settings(oms_config(tmp_path, server)))
    return nc, await leases_bucket(js, cfg)


async def revision(kv: KeyValue) -> int:
    try:
        return (await kv.get(KEY)).revision or 0
    except NotFoundError:
        return 0


async def test_a_holder_whose_loop_stalled_past_the_ttl_cannot_prove_it_holds(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """2.5 s without a renewal on a 2 s lease (a stalled event loop): `held` is false at once,
    by the clock, before any task runs; a standby that then takes the lapsed key is the only
    holder, and the stalled one loses the lease at its next renewal."""
    kv_nc, kv = await leases(tmp_path, nats_server)
    clock = StepClock()
    holder = Lease(kv, KEY, "holder", TTL, monotonic=clock)
    standby = Lease(kv, KEY, "standby", TTL)
    try:
        await holder.acquire()
        assert holder.held
        clock.t += 2.5
        assert not holder.held
        assert "last renewed 2.5s ago" in (holder.unproven() or "")
        await kv.purge(KEY)  # what the server does to a key not renewed within its TTL
        await standby.acquire()
        assert standby.held and not holder.held
        await eventually(holder.lost.is_set)
        assert standby.held and not holder.held
    finally:
        await holder.release()
        await standby.release()
        await kv_nc.close()


class HeldAccount(AlpacaFake):
    """An Alpaca whose account reads wait until `answer()`: a slow start-up."""

    def __init__(self) -> None:
        super().__init__()
        self.account_reads = 0
        self._answer = asyncio.Event()

    def answer(self) -> None:
        self._answer.set()

    async def _account(self, request: web.Request) -> web.Response:
        self.account_reads += 1
        await self._answer.wait()
        return await super()._account(request)


async def test_the_lease_is_renewed_while_start_up_waits_for_the_broker(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """An order manager whose start-up reads of the broker take longer than the lease's TTL
    keeps renewing it from the moment it took it: a standby trying meanwhile is refused, and
    the first one then takes intents as the only holder."""
    kv_nc, kv = await leases(tmp_path, nats_server)
    async with HeldAccount() as alpaca:
        alpaca.prices["SPY"] = PRICE
        config = alpaca_config(tmp_path, nats_server)
        starting = asyncio.ensure_future(
            start_oms(ACCOUNT, config, alpaca_env(alpaca) | nats_server.env(oms_user(ACCOUNT)))
        )
        nc, js = await connect(nats_server)
        try:
            await eventually(lambda: alpaca.account_reads, within=30)
            first = await revision(kv)
            assert first
            # renewed for a whole TTL while start-up waits
            await eventually(lambda: _renewed_since(kv, first), within=10)
            with pytest.raises(LeaseHeld):
                await Lease(kv, KEY, "standby", TTL).acquire()
            alpaca.answer()
            running = await starting
            try:
                assert running.oms.lease.held
                await publish_mark(js)
                await eventually(lambda: running.service.book.last_price("SPY"))
                await publish_intent(js, entry())
                await eventually(lambda: intents_done(js), within=10)
                assert len(alpaca.orders_for(COID)) == 1
            finally:
                await running.stop()
        finally:
            alpaca.answer()
            if not starting.done():
                starting.cancel()
            await nc.close()
            await kv_nc.close()


async def _renewed_since(kv: KeyValue, first: int) -> bool:
    return await revision(kv) >= first + RENEWALS_PER_TTL


class WaitingForAThread(ThreadPoolExecutor):
    """The loop's default executor, except that an order's POST waits for a free thread until
    `free()`; `waiting` is set once one does."""

    def __init__(self) -> None:
        super().__init__(max_workers=8)
        self.waiting = threading.Event()
        self._free = threading.Event()

    def free(self) -> None:
        self._free.set()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if not _is_order_post(fn):
            return super().submit(fn, *args, **kwargs)

        def after_the_wait() -> Any:
            self.waiting.set()
            self._free.wait(30)
            return fn(*args, **kwargs)

        return super().submit(after_the_wait)


def _is_order_post(fn: Callable[..., Any]) -> bool:
    """asyncio.to_thread's call: partial(context.run, _checked_call, check, submit_order, ...)."""
    return any(getattr(arg, "__name__", "") == "submit_order" for arg in getattr(fn, "args", ()))


async def test_an_order_waiting_for_a_thread_is_not_sent_once_the_lease_is_gone(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """The lease is asked in the thread that sends, immediately before the POST: an order that
    waited for a free thread while a standby took the account is not sent; the worker learns a
    REJECTED update and the incident says the lease is gone."""
    executor = WaitingForAThread()
    asyncio.get_running_loop().set_default_executor(executor)
    kv_nc, kv = await leases(tmp_path, nats_server)
    standby = Lease(kv, KEY, "standby", TTL)
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = PRICE
        config = alpaca_config(tmp_path, nats_server)
        running = await start_oms(
            ACCOUNT, config, alpaca_env(alpaca) | nats_server.env(oms_user(ACCOUNT))
        )
        nc, js = await connect(nats_server)
        try:
            await publish_mark(js)
            await eventually(lambda: running.service.book.last_price("SPY"))
            await publish_intent(js, entry())
            await eventually(executor.waiting.is_set, within=10)
            await kv.purge(KEY)
            await standby.acquire()
            await eventually(running.oms.lease.lost.is_set, within=10)
            executor.free()
            await eventually(lambda: intents_done(js), within=10)
            assert ("POST", "/v2/orders") not in alpaca.requests
            updates = [u for _, _, u in await exec_updates(js) if u.client_order_id == COID]
            assert [u.status for u in updates] == [OrderStatus.REJECTED]
            assert "cannot prove it still holds its lease" in updates[0].reason
            assert "lost its lease" in running.service.open_alerts[f"lease:{ACCOUNT}"]
        finally:
            executor.free()
            await running.stop()
            await standby.release()
            await nc.close()
            await kv_nc.close()


class SteppedMonotonic:
    """The monotonic clock plus what the test adds: a stall the lease's clock sees."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


async def test_a_holder_that_cannot_prove_its_lease_sends_nothing_says_so_and_resumes(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """2.5 s pass by the lease's clock while an order waits for a thread (on a 2 s lease, no
    renewal ran): it is not sent, the worker learns a REJECTED update and an incident says the
    order manager cannot prove it holds its lease. Nobody took the key: the next renewal
    proves it again, the incident is resolved and the next intent is sent."""
    executor = WaitingForAThread()
    asyncio.get_running_loop().set_default_executor(executor)
    clock = SteppedMonotonic()
    incident = f"lease:{ACCOUNT}"
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = PRICE
        config, env = (
            alpaca_config(tmp_path, nats_server),
            alpaca_env(alpaca) | nats_server.env(oms_user(ACCOUNT)),
        )
        running = await start_oms(ACCOUNT, config, env, lease_clock=clock)
        nc, js = await connect(nats_server)
        try:
            await publish_mark(js)
            await eventually(lambda: running.service.book.last_price("SPY"))
            await publish_intent(js, entry())
            await eventually(executor.waiting.is_set, within=10)
            clock.offset += 2.5
            executor.free()
            await eventually(lambda: intents_done(js), within=10)
            assert ("POST", "/v2/orders") not in alpaca.requests
            updates = [u for _, _, u in await exec_updates(js) if u.client_order_id == COID]
            assert [u.status for u in updates] == [OrderStatus.REJECTED]
            assert "cannot prove it still holds its lease: the lease was last renewed" in (
                updates[0].reason
            )
            assert "cannot prove" in running.service.open_alerts[incident]
            await eventually(lambda: incident not in running.service.open_alerts, within=10)
            await publish_intent(js, entry(NEXT))
            await eventually(lambda: alpaca.orders_for(NEXT), within=10)
            assert not running.oms.lease.lost.is_set()
        finally:
            executor.free()
            await running.stop()
            await nc.close()
