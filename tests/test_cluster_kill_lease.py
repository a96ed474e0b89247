"""One sender per account, the kill included: an order manager that cannot prove its lease
sends none of the kill's account-wide requests (cancel-all, close-all), which a standby that
took the account may be sending at the same moment (both would sell: the account would end
short what it held). A real nats-server, `tradebot oms`'s own start-up, the real alpaca-py
clients against the loopback Alpaca, and a lease clock the test moves."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.oms_cli import RunningOms, start_oms
from ops.cluster.config import cluster_config
from ops.cluster.control_requests import request_kill
from ops.cluster.credentials import oms_user
from ops.cluster.server import LocalNats
from ops.config.settings import load_settings
from ops.safety.kill_outcome import KillOutcome
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
    publish_intent,
    publish_mark,
)

STALL_SEC = 1.6  # on the 2 s lease of oms_config: past what `held` allows (1.5 s), not lost
ACCOUNT_WIDE = (("DELETE", "/v2/orders"), ("DELETE", "/v2/positions"))


class StallingClock:
    """The lease's monotonic clock. While `stalling`, every reading comes STALL_SEC after the
    one before (the event loop stalled between any two steps), so no renewal, however
    recent, proves the lease; renewals still succeed, so it is not lost. Then it stands still
    and the next renewal proves it again. Read from the thread that sends, too."""

    def __init__(self) -> None:
        self.stalling = False
        self._t = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            if self.stalling:
                self._t += STALL_SEC
            return self._t


async def _first_outcome(running: RunningOms) -> KillOutcome:
    """How the first kill ended, taken as it ends (keep-flattening soon starts the next)."""
    found: list[KillOutcome] = []

    def ended() -> bool:
        last = running.service.kill_switch.status().last
        if last is not None and not last.running:
            found.append(last)
        return bool(found)

    await eventually(ended, within=10)
    return found[0]


def _flat(running: RunningOms) -> bool:
    last = running.service.kill_switch.status().last
    return last is not None and last.flat is True


async def test_a_kill_that_cannot_prove_the_lease_sends_nothing_until_it_is_proven_again(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """An order manager holding SPY whose lease cannot be proven takes a kill from the control
    plane: HALTED, but neither DELETE /v2/orders nor DELETE /v2/positions goes out, the kill
    ends NOT FLAT saying why (and the lease incident is open); once a renewal proves the lease
    again, keep-flattening sends them and the account ends flat, not short."""
    clock = StallingClock()
    config = alpaca_config(tmp_path, nats_server)
    cfg = cluster_config(load_settings(config))
    async with AlpacaFake() as alpaca:
        alpaca.prices["SPY"] = PRICE
        running = await start_oms(
            ACCOUNT,
            config,
            alpaca_env(alpaca) | nats_server.env(oms_user(ACCOUNT)),
            lease_clock=clock,
        )
        running.service.kill_switch.retry_sec = 0.2
        nc, js = await connect(nats_server)
        try:
            await publish_mark(js)
            await eventually(lambda: running.service.book.last_price("SPY"))
            await publish_intent(js, entry())
            await eventually(lambda: running.service.book.position("SPY") is not None, within=10)
            assert alpaca.positions["SPY"][0] == 1 and alpaca.orders_for(COID)

            clock.stalling = True
            await request_kill(js, cfg, ACCOUNT, "U1", "test")
            last = await _first_outcome(running)
            assert last.flat is False, last
            assert [r for r in alpaca.requests if r in ACCOUNT_WIDE] == []
            assert alpaca.requests.count(("POST", "/v2/orders")) == 1  # the entry only
            assert alpaca.positions["SPY"][0] == 1
            assert any(
                "cancel all orders failed: not sent: the order manager cannot prove it still "
                "holds its lease: the lease was last renewed" in error
                for error in last.errors
            ), last.errors
            assert "cannot prove" in running.service.open_alerts[f"lease:{ACCOUNT}"]

            clock.stalling = False
            await eventually(lambda: running.oms.lease.held, within=10)
            await eventually(lambda: _flat(running), within=15)
            assert alpaca.positions == {}
            assert alpaca.requests.count(("DELETE", "/v2/positions")) == 1
            assert not running.oms.lease.lost.is_set()
        finally:
            await running.stop()
            await nc.close()
