"""One backtest: the live engine and the simulated broker over a list of bars, no I/O."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ops.backtest.fast import Replay, fits
from strategy.book import Book
from strategy.clock import ManualClock
from strategy.engine import Engine
from strategy.engine_outputs import EngineCounters
from strategy.params import RiskLimits, StrategyParams
from strategy.recorder import MemoryRecorder
from strategy.risk import RiskGate
from strategy.stats import SignalStats
from strategy.types import Bar
from strategy.venues.bar_columns import BarColumns
from strategy.venues.sim import SimBroker, SimSettings
from strategy.venues.sim_feed import SimFeed

Progress = Callable[[int, int], None]  # (bars done, bars in all)
ARTICLE_SLIPPAGE_BPS = 2.34  # the article's measured mean (limit orders on SPY, 2023)
ARTICLE_SLIPPAGE_STD_BPS = 2.87
PROGRESS_EVERY = 5_000
CURVE_LIMIT = 10_000_000  # equity points kept (one per bar interval)
READ_TABLES = ("fills",)  # the rows an outcome is made of; a backtest keeps no others


@dataclass(frozen=True, slots=True)
class Costs:
    commission_per_share: float = 0.005
    slippage_bps: float = ARTICLE_SLIPPAGE_BPS
    slippage_std_bps: float = ARTICLE_SLIPPAGE_STD_BPS
    slippage_samples_bps: tuple[float, ...] = ()


NO_COSTS = Costs(0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Setup:
    symbols: tuple[str, ...]
    params: StrategyParams
    limits: RiskLimits
    costs: Costs
    starting_cash: float = 100_000.0
    seed: int = 7
    bar_sec: int = 60
    vol_window: int = 10

    def with_params(self, **changes: object) -> Setup:
        return replace(self, params=replace(self.params, **changes))


@dataclass(frozen=True, slots=True)
class FillRow:
    ts: float
    symbol: str
    side: str  # "buy" | "sell"
    qty: int
    price: float
    commission: float
    decision_price: float
    slippage_bps: float

    @property
    def sign(self) -> int:
        return 1 if self.side == "buy" else -1

    @property
    def notional(self) -> float:
        return self.qty * self.price


def _fill_row(row: dict[str, object]) -> FillRow:
    return FillRow(
        ts=float(row["ts"]),  # type: ignore[arg-type]
        symbol=str(row["symbol"]),
        side=str(row["side"]),
        qty=int(row["qty"]),  # type: ignore[call-overload]
        price=float(row["price"]),  # type: ignore[arg-type]
        commission=float(row["commission"]),  # type: ignore[arg-type]
        decision_price=float(row["decision_price"]),  # type: ignore[arg-type]
        slippage_bps=float(row["slippage_bps"]),  # type: ignore[arg-type]
    )


@dataclass(frozen=True, slots=True, eq=False)
class Curve:
    """Equity at each snapshot, as two float64 arrays of one length: cheap to build from the
    replay's arrays, to send from the process beside and to chart (100,000 points a pass)."""

    ts: np.ndarray
    equity: np.ndarray

    @classmethod
    def of(cls, points: Sequence[tuple[float, float]]) -> Curve:
        pairs = np.asarray(points, np.float64).reshape(-1, 2)
        return cls(pairs[:, 0].copy(), pairs[:, 1].copy())

    def __len__(self) -> int:
        return len(self.ts)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Curve)
            and np.array_equal(self.ts, other.ts)
            and np.array_equal(self.equity, other.equity)
        )

    __hash__ = None  # type: ignore[assignment]  # arrays: compared, never hashed


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a run leaves behind for the metrics. The curve and the fills stay out of its repr:
    asyncio.run formats the finished task, result included, when it restores SIGINT's handler
    (CPython 3.11), which cost ~0.3 s per pass in a sweep or --no-costs worker."""

    setup: Setup
    curve: Curve = field(repr=False)  # one point per bar interval
    fills: tuple[FillRow, ...] = field(repr=False)
    bars: int
    orders: int
    refusals: int
    first_ts: float
    last_ts: float


def _build(
    setup: Setup,
    clock: ManualClock,
    recorder: MemoryRecorder,
    stats: Mapping[str, SignalStats] | None = None,
    equity_every_sec: float | None = None,
    counters: EngineCounters | None = None,
) -> tuple[Engine, SimBroker, Book]:
    costs = setup.costs
    broker = SimBroker(
        SimSettings(
            starting_cash=setup.starting_cash,
            slippage_bps=costs.slippage_bps,
            slippage_std_bps=costs.slippage_std_bps,
            slippage_samples_bps=costs.slippage_samples_bps,
            commission_per_share=costs.commission_per_share,
            seed=setup.seed,
        ),
        clock,
    )
    book = Book(setup.starting_cash, clock, recorder, equity_curve_len=CURVE_LIMIT)
    engine = Engine(
        symbols=setup.symbols,
        params=setup.params,
        gate=RiskGate(setup.limits, setup.symbols, clock),
        book=book,
        broker=broker,
        clock=clock,
        recorder=recorder,
        latency=None,  # a backtest's latency is this host's: nobody reads it
        vol_window=setup.vol_window,
        bar_sec=setup.bar_sec,
        equity_every_sec=setup.bar_sec if equity_every_sec is None else equity_every_sec,
        stats=stats,
        counters=counters,
    )
    return engine, broker, book


def _outcome(
    setup: Setup,
    engine: Engine,
    recorder: MemoryRecorder,
    curve: Curve,
    bars: Sequence[Bar],
) -> Outcome:
    counters = engine.progress().counters
    return Outcome(
        setup=setup,
        curve=curve,
        fills=tuple(_fill_row(row) for row in recorder.of("fills")),
        bars=counters.bars,
        orders=counters.orders,
        refusals=counters.refusals + counters.broker_rejects,
        first_ts=bars[0].ts,
        last_ts=bars[-1].ts + setup.bar_sec,
    )


async def run(
    bars: Sequence[Bar],
    setup: Setup,
    progress: Progress | None = None,
    recorder: MemoryRecorder | None = None,
) -> Outcome:
    """The engine shown only the bars where something can happen (fast.py), when the bars'
    timing allows it; otherwise every bar, as the live feed would."""
    if not bars:
        raise ValueError("no bars to backtest")
    columns = BarColumns.of(bars)
    params = setup.params
    replay = Replay(
        columns,
        setup.symbols,
        params.lookback,
        setup.vol_window,
        params.entry_z,
        params.exit_z,
        setup.bar_sec,
    )
    if not fits(columns, replay.known, setup.bar_sec):
        return await run_bar_by_bar(columns, setup, progress, recorder)
    recorder = recorder if recorder is not None else MemoryRecorder(READ_TABLES)
    clock = ManualClock(start=float(columns.ts[0]))
    counters = EngineCounters()
    engine, broker, book = _build(
        setup, clock, recorder, replay.stats, equity_every_sec=math.inf, counters=counters
    )
    replay.run(engine, book, counters, broker, clock, progress)
    if progress is not None:
        progress(len(columns), len(columns))
    ts, equity = replay.curve(recorder.of("fills"), setup.starting_cash, clock.now())
    return _outcome(setup, engine, recorder, Curve(ts, equity), columns)


async def run_bar_by_bar(
    bars: Sequence[Bar],
    setup: Setup,
    progress: Progress | None = None,
    recorder: MemoryRecorder | None = None,
) -> Outcome:
    """Every bar through the simulated feed into the engine, exactly as `tradebot run` replays
    them (the reference the fast replay is tested against)."""
    if not bars:
        raise ValueError("no bars to backtest")
    clock = ManualClock(start=bars[0].ts)
    recorder = recorder if recorder is not None else MemoryRecorder(READ_TABLES)
    engine, broker, book = _build(setup, clock, recorder)
    feed = SimFeed(bars, clock, observers=[broker.on_bar], speed=None, bar_sec=setup.bar_sec)
    done = 0
    async for bar in feed.bars():
        engine.on_bar(bar)
        done += 1
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done, len(bars))
    await engine.drain()
    book.snapshot_equity(clock.now())
    if progress is not None:
        progress(len(bars), len(bars))
    return _outcome(setup, engine, recorder, Curve.of(book.equity_curve), bars)
