"""Factories for tests: a config file in tmp, a running service on the simulator, bars."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml

from bot.account import control_parts
from ops.backtest.sessions import SessionSource
from ops.config.settings import load_settings
from ops.control.commands import CommandCore
from ops.control.confirm import Confirmations
from ops.journal.journal import Journal
from ops.service.service import TradingService
from strategy.clock import ManualClock
from strategy.types import Bar, Intent, OrderRequest, OrderType, Side, TimeInForce
from strategy.venues.sim import SimBroker, SimSettings
from strategy.venues.sim_feed import SimFeed

REPO = Path(__file__).resolve().parent.parent
B = TypeVar("B", bound=SimBroker)
SIM_SETTINGS = SimSettings(slippage_bps=1.0, seed=1)
START = 1_767_364_200.0  # 2026-01-02 14:30 UTC = 09:30 New York


def write_config(tmp_path: Path, **overrides: object) -> Path:
    """The shipped config.yaml with dotted-key overrides, journal and kill file under tmp."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    overrides.setdefault("journal.path", str(tmp_path / "journal.db"))
    overrides.setdefault("monitoring.kill_switch_file", str(tmp_path / "kill"))
    overrides.setdefault("monitoring.health_port", 0)  # tests that want one pick a free port
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        data[section][key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def spawn_tradebot(
    config: Path | None, *args: str, cwd: Path = REPO, **env: str
) -> asyncio.subprocess.Process:
    """`tradebot run --config CONFIG` (or, without a config, `tradebot ARGS...`) in a child
    process with only the given SLACK_/ALPACA_ variables, in `cwd` (relative paths' base)."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALPACA_", "TRADEBOT_"))
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *(("run", "--config", str(config)) if config is not None else ()),
        *args,
        cwd=cwd,
        env={**clean, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop_tradebot(proc: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    """SIGTERM, then its output; the caller checks the exit code."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.communicate(), 30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def journal_bytes(folder: Path) -> bytes:
    """The raw journal files (database and WAL), to search for what must never be stored."""
    return b"".join(p.read_bytes() for p in folder.glob("journal.db*"))


def bar(symbol: str, minute: int, close: float, open_: float | None = None) -> Bar:
    o = close if open_ is None else open_
    return Bar(symbol, START + 60 * minute, o, max(o, close), min(o, close), close, 1000)


class WallClock:
    """A settable stand-in for time.time, for confirmation expiry."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


class PushedFeed:
    """The service's feed in a harness: the bars it was made with, then each push's. One
    object, so the watchers' view composed with it reads every push's stamp."""

    def __init__(self, feed: SimFeed) -> None:
        self.current = feed

    def bars(self) -> AsyncIterator[Bar]:
        return self.current.bars()

    @property
    def last_bar_ts(self) -> float | None:
        return self.current.last_bar_ts


@dataclass
class Harness:
    service: TradingService
    core: CommandCore
    broker: SimBroker
    clock: ManualClock
    journal: Journal
    wall: WallClock
    feed: SimFeed
    pushed: PushedFeed  # the service's feed

    async def push(self, *bars: Bar) -> None:
        """Deliver bars through a simulated feed (clock, market, then the engine) without
        starting the service; the feed becomes the service's, for the monitor to read."""
        feed = SimFeed(bars, self.clock, observers=[self.broker.on_bar])
        self.pushed.current = feed
        async for b in feed.bars():
            self.service.engine.on_bar(b, self.clock.monotonic_ns())
        await settle()

    def swap_broker(self, cls: type[B]) -> B:
        """Put a variant of the simulated venue under the engine (before any bar)."""
        broker = cls(SIM_SETTINGS, self.clock)
        broker.subscribe(self.service.engine.on_order_update)
        self.service.engine.broker = broker
        self.service.broker = broker
        self.broker = broker
        return broker

    async def buy_behind_the_books_back(self, symbol: str, qty: int, price: float) -> None:
        """An order someone placed at the broker directly: it fills on the next bar, and the
        book, which never sent it, does not count it (a reconciliation mismatch)."""
        request = OrderRequest(
            f"manual-{symbol}-{qty}",
            symbol,
            Side.BUY,
            qty,
            OrderType.MARKET,
            TimeInForce.DAY,
            None,
            price,
            Intent.ENTRY,
            self.clock.now(),
        )
        await self.broker.submit(request)

    async def run(self, text: str, user: str = "U1", channel: str = "C1"):
        return await self.core.handle(text, user, channel, "test")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def eventually(check: Callable[[], object], within: float = 5.0) -> None:
    """Poll `check` (sync or async, any truthy result) until true; fail after `within` s."""
    deadline = time.monotonic() + within
    while True:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def make_harness(
    tmp_path: Path,
    bars: Iterable[Bar] = (),
    four_eyes: bool = False,
    journal_type: type[Journal] = Journal,
    history: SessionSource | None = None,
    **config: object,
) -> Harness:
    """A service on the simulator, not started: tests push bars by hand unless they start it."""
    config.setdefault("slack.four_eyes", four_eyes)
    path = write_config(tmp_path, **config)
    journal = journal_type(tmp_path / "journal.db")
    journal.start()
    settings = load_settings(path, overrides=journal.load_overrides())
    clock = ManualClock(start=START)
    broker = SimBroker(SIM_SETTINGS, clock)
    feed = SimFeed(bars, clock, observers=[broker.on_bar], speed=None)
    pushed = PushedFeed(feed)
    service = TradingService(
        settings=settings,
        journal=journal,
        broker=broker,
        feed=pushed,
        clock=clock,
        starting_cash=100_000.0,
    )
    wall = WallClock()
    confirmations = Confirmations(wall, bool(settings.get("slack.four_eyes")))
    core = CommandCore(control_parts(service), confirmations, wall, history)
    return Harness(service, core, broker, clock, journal, wall, feed, pushed)
