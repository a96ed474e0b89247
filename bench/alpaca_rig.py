"""The service on the real alpaca-py clients against the loopback Alpaca, for benchmarks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ops.config.settings import load_settings
from ops.journal.journal import Journal
from ops.service.service import TradingService
from strategy.clock import SystemClock
from strategy.venues.alpaca.broker import AlpacaBroker
from strategy.venues.alpaca.feed import AlpacaFeed
from tests.fakes.alpaca import AlpacaFake
from tests.support import write_config

KEY, SECRET = "PKTEST", "secret-bench"
CASH = 1e7


@dataclass
class AlpacaRig:
    service: TradingService
    broker: AlpacaBroker
    feed: AlpacaFeed

    async def stop(self) -> None:
        await self.service.stop()
        await self.feed.stop()
        await self.broker.stop()


def alpaca_rig(
    alpaca: AlpacaFake,
    names: tuple[str, ...],
    folder: Path,
    requests_per_min: float,
    **config: object,
) -> AlpacaRig:
    """Not started: the caller starts the broker (and recovers) in the order it measures."""
    path = write_config(folder, **{"strategy.symbols": list(names), **config})
    journal = Journal(folder / f"bench-{time.monotonic_ns()}.db")
    journal.start()
    broker = AlpacaBroker.connect(
        KEY, SECRET, True, alpaca.trading_url, alpaca.trading_stream_url, requests_per_min, 0.0
    )
    clock = SystemClock()
    feed = AlpacaFeed.connect(
        KEY, SECRET, names, clock, "iex", alpaca.data_stream_url, alpaca.data_url
    )
    service = TradingService(
        settings=load_settings(path),
        journal=journal,
        broker=broker,
        feed=feed,
        clock=clock,
        starting_cash=CASH,
    )
    return AlpacaRig(service, broker, feed)
