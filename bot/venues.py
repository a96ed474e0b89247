"""Building the venue the config names: the simulator (default) or Alpaca."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.account import Account, compose
from ops.backtest.sessions import AlpacaSessions, RecentSessions, SessionSource, alpaca_fetch
from ops.config.settings import Settings
from ops.journal.journal import Journal
from ops.journal.owner import JournalOwner, journal_folder
from ops.service.retry import read_at_start
from ops.service.service import TradingService
from ops.shared.errors import StartupError
from ops.shared.messages import bar_symbols
from strategy.clock import Clock, ManualClock, SystemClock
from strategy.market_day import latest_session_open
from strategy.types import Bar
from strategy.venue import Broker, Feed
from strategy.venues.alpaca.broker import AlpacaBroker
from strategy.venues.alpaca.feed import AlpacaFeed
from strategy.venues.alpaca.streams import ProblemSink, RecoveredSink
from strategy.venues.bars import LoadedBars, load_bars, synthetic_bars
from strategy.venues.sim import SimBroker, SimSettings
from strategy.venues.sim_feed import SimFeed

log = logging.getLogger(__name__)
LIVE_HOST = "api.alpaca.markets"
PAPER_HOST = "paper-api.alpaca.markets"
LIVE_WARNING = (
    ":rotating_light: *LIVE TRADING*: broker.paper is false, so orders go to a REAL-MONEY "
    "Alpaca account."
)


async def _nothing() -> None:
    return None


def _unreported(problem: ProblemSink, recovered: RecoveredSink) -> None:
    return None


def _cannot_wait(check: Callable[[], bool]) -> None:
    """A live feed: the market does not wait (a full journal queue stops entries instead)."""
    return None


@dataclass
class Venue:
    broker: Broker
    feed: Feed
    clock: Clock
    starting_cash: float
    owner: JournalOwner  # whose journal this venue's runs keep
    recover: bool = False  # a real account: rebuild the book from the broker at start-up
    warnings: tuple[str, ...] = ()  # told to the operator (log, Slack) once the service runs
    start: Callable[[], Awaitable[None]] = field(default=_nothing)
    stop: Callable[[], Awaitable[None]] = field(default=_nothing)
    # the venue's own incidents (credentials refused, bars missing) go to these two callbacks
    report_to: Callable[[ProblemSink, RecoveredSink], None] = field(default=_unreported)
    replay: bool = False  # bars from a file: the feed ends, and so does the run
    # the feed waits before each bar while the check given here is true (simulated time only)
    hold_feed_while: Callable[[Callable[[], bool]], None] = field(default=_cannot_wait)
    history: SessionSource | None = None  # the recent sessions a `set` is previewed on

    def account(self, settings: Settings, journal: Journal, *, decides: bool = True) -> Account:
        """The account on this venue: its trading service (the venue's incidents reported to
        it) and the safety net around it. On the event loop. `decides`: False for an order
        manager (its workers decide)."""
        service = TradingService(
            settings=settings,
            journal=journal,
            broker=self.broker,
            feed=self.feed,
            clock=self.clock,
            starting_cash=self.starting_cash,
            decides=decides,
        )
        self.report_to(service.alert, service.resolve)
        return compose(service)


def _replay(path: str, label: str) -> LoadedBars:
    """The whole file read and checked before anything starts (the same loader, checks and
    messages as `backtest --data`): a bad row stops the start with one line naming it."""
    if not Path(path).is_file():
        raise StartupError(f"{label}: no such file {path!r}")
    loaded = load_bars(path)
    if not len(loaded.bars):
        raise StartupError(f"no bars in csv:{path}")
    return loaded


def sim_broker(settings: Settings, clock: ManualClock) -> SimBroker:
    """The simulated broker the broker.* settings describe (the service's and an order
    manager's)."""
    return SimBroker(
        SimSettings(
            starting_cash=settings.number("broker.starting_cash"),
            slippage_bps=settings.number("broker.slippage_bps"),
            commission_per_share=settings.number("broker.commission_per_share"),
            partial_fill_prob=settings.number("broker.partial_fill_prob"),
            seed=settings.integer("broker.seed"),
        ),
        clock,
    )


def build_sim(settings: Settings, data: str | None, speed: float | None) -> Venue:
    """A replay runs on the data's own clock (from its first bar), so gates, heartbeats and
    alerts judge the bars in market time; synthetic bars keep New York session hours from
    today's session open (Friday's on a weekend): the feed crosses nights and weekends at once,
    so trading starts promptly whatever the time, and a day's P&L starts with its session."""
    label = "--data" if data is not None else "sim.data"
    data = data if data is not None else settings.text("sim.data")
    bar_sec = settings.integer("sim.bar_sec")
    source: Iterable[Bar]
    warnings: tuple[str, ...] = ()
    if data:
        loaded = _replay(data, label)
        source, warnings = loaded.bars, loaded.warnings
        start = float(loaded.bars.ts[0])
        names = loaded.bars.names
        if set(names) != set(settings.symbols):  # named as `backtest --data` names them
            warnings += (bar_symbols(names, settings.symbols),)
    else:
        start = latest_session_open(time.time())
        seed = settings.integer("broker.seed")
        source = synthetic_bars(settings.symbols, seed, start, bar_sec, sessions=True)
    clock = ManualClock(start=start)
    broker = sim_broker(settings, clock)
    speed = speed if speed is not None else settings.number("sim.speed")
    recent = RecentSessions(settings.integer("confirm.preview_sessions"), bar_sec)
    observers = [broker.on_bar, recent.observe]
    feed = SimFeed(source, clock, observers=observers, speed=speed or None, bar_sec=bar_sec)
    owner = JournalOwner.simulator(data)
    return Venue(
        broker,
        feed,
        clock,
        settings.number("broker.starting_cash"),
        owner,
        warnings=warnings,
        replay=bool(data),
        hold_feed_while=feed.hold_while,
        history=recent,
    )


def _check_endpoint(paper: bool, trading_url: str) -> None:
    """A paper flag and an explicit URL that disagree is a mistake to stop on, whichever way."""
    host = urlsplit(trading_url).hostname or ""
    if paper and host == LIVE_HOST:
        raise StartupError(f"broker.paper is true but broker.base_url is the live {LIVE_HOST}")
    if not paper and host == PAPER_HOST:
        raise StartupError(f"broker.paper is false but broker.base_url is {PAPER_HOST}")


async def build_alpaca(settings: Settings, env: Mapping[str, str]) -> Venue:
    key, secret = env.get("ALPACA_API_KEY"), env.get("ALPACA_SECRET_KEY")
    if not key or not secret:
        raise StartupError(
            "broker.name: alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY in the environment"
        )
    paper = bool(settings.get("broker.paper"))
    trading_url = settings.text("broker.base_url")
    _check_endpoint(paper, trading_url)
    broker = AlpacaBroker.connect(
        key,
        secret,
        paper,
        trading_url=trading_url,  # empty: alpaca-py picks the paper or live URL from `paper`
        stream_url=settings.text("broker.trading_stream_url"),
        requests_per_min=settings.number("broker.requests_per_min"),
        commission_per_share=settings.number("broker.commission_per_share"),
        timeout_sec=settings.number("broker.timeout_sec"),
    )
    clock = SystemClock()
    feed = AlpacaFeed.connect(
        key,
        secret,
        settings.symbols,
        clock,
        settings.text("broker.data_feed"),
        stream_url=settings.text("broker.data_stream_url"),
        data_url=settings.text("broker.data_url"),
        timeout_sec=settings.number("broker.timeout_sec"),
    )
    account = await read_at_start(settings, broker.account, "Alpaca account")

    async def stop() -> None:
        await feed.stop()
        await broker.stop()

    def report_to(problem: ProblemSink, recovered: RecoveredSink) -> None:
        for part in (broker, feed):
            part.on_problem, part.on_recovered = problem, recovered

    warnings = () if paper else (LIVE_WARNING,)
    fetch = alpaca_fetch(
        key,
        secret,
        settings.text("broker.data_url"),
        settings.text("broker.data_feed"),
        journal_folder(settings) / "cache",
        settings.number("broker.timeout_sec"),
    )
    return Venue(
        broker,
        feed,
        clock,
        account.cash,
        JournalOwner.alpaca(paper, account.number),
        True,
        warnings,
        start=broker.start,
        stop=stop,
        report_to=report_to,
        history=AlpacaSessions(settings.symbols, fetch, clock.now),
    )
