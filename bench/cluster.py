"""Figure 12: the cluster on one machine. Real processes (a local nats-server, `tradebot oms`,
two `tradebot worker`s sharing the partitions, `tradebot ingest --data CSV --speed 0`) over
5,000 symbols: bars/s from the first bar stored until every worker consumer has nothing pending
or unacknowledged, and bar-to-intent latency from the server's own timestamps (the bar's in
MD_BARS, its intent's in INTENTS). The single process runs the same bars in the same run."""

from __future__ import annotations

import asyncio
import csv
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import yaml

from bench.common import SEED, Figure, symbols
from bench.throughput import engine_seconds
from bot.cluster_cli import split
from ops.config.settings import Settings, load_settings
from ops.journal.journal import Journal
from ops.journal.owner import JournalOwner, journal_file
from strategy.book import Book
from strategy.clock import ManualClock
from strategy.engine import Engine
from strategy.latency import LatencyTracker
from strategy.market_day import session_open
from strategy.risk import RiskGate
from strategy.types import Bar
from strategy.venues.bars import synthetic_bars
from strategy.venues.sim import SimBroker, SimSettings

if TYPE_CHECKING:
    from nats.js import JetStreamContext
    from nats.js.api import ConsumerInfo

SYMBOLS = 5_000
BARS_PER_SYMBOL = 40  # the default lookback is 20 bars: signals start halfway
WORKERS = 2
STRATEGY = "MeanReversionV1"
ACCOUNT = "main"
POLL_SEC = 0.1
START_WITHIN_SEC = 120.0
DONE_WITHIN_SEC = 300.0
TICKS = os.sysconf("SC_CLK_TCK")
# Wide enough that the order manager turns every intent into an order: it runs behind the
# bars (the simulator's clock follows the newest mark), so the staleness and collar checks
# would otherwise refuse intents for lagging, not for risk.
OPEN_RISK = {
    "max_order_notional": 1e9,
    "max_position_qty": 10_000_000,
    "max_gross_exposure": 1e10,
    "max_orders_per_day": 100_000,
    "max_daily_loss_pct": 1.0,
    "price_collar_pct": 0.5,
    "stale_bar_sec": 86_400.0,
    "max_order_qty": 10_000_000,
    "max_orders_per_minute": 10_000,
    "reference_max_age_sec": 86_400.0,
}


@dataclass(frozen=True, slots=True)
class ClusterRun:
    bars_stored: int
    seconds: float  # first bar stored -> every worker consumer drained
    ingest_seconds: float  # first bar stored -> last bar stored
    acked_per_worker: list[int]
    redelivered: int
    intents: int
    latencies_ms: list[float]
    unmatched: int  # intents whose bar was not found (should be 0)
    oms_taken: int  # intents the order manager acknowledged
    oms_seconds: float  # first bar stored -> the order manager's consumer drained
    orders: int  # rows in the order manager's journal
    refusals: int
    cpu: dict[str, float]  # CPU seconds per process, last seen while it ran


def write_inputs(folder: Path, names: tuple[str, ...], bars: list[Bar]) -> tuple[Path, Path]:
    """The temporary config (everything else at its default) and the bars as CSV."""
    config = folder / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "strategy": {"symbols": list(names)},
                "risk": OPEN_RISK,
                "broker": {"regular_hours_only": False, "starting_cash": 1e9},
                "monitoring": {
                    "health_port": 0,
                    "kill_switch_file": str(folder / "kill"),
                    "drawdown_halt_pct": 1.0,
                },
                "journal": {"path": str(folder / "oms.db")},
                "cluster": {
                    "accounts": [ACCOUNT],
                    "strategies": [f"{STRATEGY}:{ACCOUNT}"],
                    "store_dir": str(folder / "nats"),
                },
            }
        )
    )
    data = folder / "bars.csv"
    with data.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["timestamp", "symbol", "open", "high", "low", "close", "volume"])
        for b in bars:
            out.writerow([repr(b.ts), b.symbol, b.open, b.high, b.low, b.close, b.volume])
    return config, data


async def _until(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"figure 12: {what} not within {within:g} s")
        await asyncio.sleep(POLL_SEC)


async def run_cluster(
    config: Path, data: Path, expected: int, settings: Settings, folder: Path
) -> ClusterRun:
    from nats.js.errors import NotFoundError

    from ops.cluster.config import cluster_config
    from ops.cluster.credentials import INGEST, oms_user, worker_user
    from ops.cluster.permissions import Layout
    from ops.cluster.server import LocalNats
    from ops.cluster.subjects import BARS_STREAM, INTENTS_STREAM, consumer_name, oms_consumer

    cfg = cluster_config(settings)
    server = LocalNats(Path(cfg.store_dir), layout=Layout.of(cfg))  # authenticated, as deployed
    await server.start()
    env = {k: v for k, v in os.environ.items() if k != "TRADEBOT_DB"}
    env["TRADEBOT_NATS_URL"] = server.url
    procs: dict[str, asyncio.subprocess.Process] = {}
    logs: list[BinaryIO] = []
    nc = await server.connect()
    js = nc.jetstream()

    async def spawn(name: str, user: str, *argv: str) -> None:
        log = (folder / f"{name}.log").open("wb")
        logs.append(log)
        procs[name] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *argv, "--config", str(config),
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, env=env | server.env(user),
        )  # fmt: skip

    def died() -> None:
        for name, proc in procs.items():
            if proc.returncode not in (None, 0):
                tail = (folder / f"{name}.log").read_text()[-2000:]
                raise RuntimeError(f"figure 12: {name} exited with {proc.returncode}:\n{tail}")

    async def consumers(stream: str, names: list[str]) -> list[ConsumerInfo] | None:
        died()
        try:
            return [await js.consumer_info(stream, n) for n in names]
        except NotFoundError:
            return None

    bar_consumers = [consumer_name(STRATEGY, p) for p in range(cfg.partitions)]
    oms_name = [oms_consumer(ACCOUNT)]

    cpu: dict[str, float] = {}

    def sample() -> None:
        for name, pid in [*((n, p.pid) for n, p in procs.items()), *_servers()]:
            used = cpu_seconds(pid)
            if used is not None:
                cpu[name] = used

    async def drained(stream: str, names: list[str], stored: int) -> bool:
        sample()
        info = await js.stream_info(stream)
        found = await consumers(stream, names)
        return (
            info.state.messages >= stored
            and found is not None
            and all(c.num_pending == 0 and c.num_ack_pending == 0 for c in found)
        )

    try:
        await spawn("oms", oms_user(ACCOUNT), "oms", "--account", ACCOUNT)
        await _until(
            lambda: _some(consumers(INTENTS_STREAM, oms_name)), START_WITHIN_SEC, "the oms"
        )
        ranges = split(cfg.partitions, WORKERS)
        for first, last in ranges:
            await spawn(f"worker{first:02d}", worker_user(STRATEGY),
                        "worker", "--strategy", STRATEGY,
                        "--partitions", f"{first}-{last}")  # fmt: skip
        await _until(
            lambda: _some(consumers(BARS_STREAM, bar_consumers)), START_WITHIN_SEC, "workers"
        )
        await spawn("ingest", INGEST, "ingest", "--data", str(data), "--speed", "0")
        await _until(lambda: drained(BARS_STREAM, bar_consumers, expected), DONE_WITHIN_SEC, "bars")
        workers_done = time.time()
        intents = (await js.stream_info(INTENTS_STREAM)).state.messages
        await _until(lambda: drained(INTENTS_STREAM, oms_name, intents), DONE_WITHIN_SEC, "oms")
        oms_done = time.time()
        infos = await consumers(BARS_STREAM, bar_consumers)
        oms_info = (await consumers(INTENTS_STREAM, oms_name) or [None])[0]
        assert infos is not None and oms_info is not None
        stored = await _bar_times(js)
        latencies, unmatched = await _intent_latencies(js, stored, settings.integer("sim.bar_sec"))
    finally:
        for proc in reversed(list(procs.values())):
            if proc.returncode is None:
                proc.terminate()
            await proc.wait()
        for log in logs:
            log.close()
        await nc.close()
        await server.stop()
    died()
    acked = [
        sum(infos[p].ack_floor.consumer_seq for p in range(first, last + 1))
        for first, last in ranges
    ]
    orders, refusals = _journal_counts(journal_file(settings, JournalOwner("cluster", ACCOUNT)))
    first_ts = min(stored.values())
    return ClusterRun(
        bars_stored=len(stored),
        seconds=workers_done - first_ts,
        ingest_seconds=max(stored.values()) - first_ts,
        acked_per_worker=acked,
        redelivered=sum(c.num_redelivered for c in infos),
        intents=len(latencies) + unmatched,
        latencies_ms=latencies,
        unmatched=unmatched,
        oms_taken=oms_info.ack_floor.consumer_seq,
        oms_seconds=oms_done - first_ts,
        orders=orders,
        refusals=refusals,
        cpu=cpu,
    )


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a live process (Linux /proc); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def _servers() -> list[tuple[str, int]]:
    """The nats-server this process started (a child of one of its threads)."""
    found = []
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            comm = Path(f"/proc/{pid}/comm")
            if comm.is_file() and comm.read_text().strip() == "nats-server":
                found.append(("nats-server", int(pid)))
    return found


async def _some(found: Awaitable[list[ConsumerInfo] | None]) -> bool:
    return await found is not None


async def _bar_times(js: JetStreamContext) -> dict[str, float]:
    """Each stored bar's server timestamp by its message id ({SYM}:{bar_ts})."""
    from ops.cluster.replay import read_stream
    from ops.cluster.subjects import BARS_STREAM

    stored: dict[str, float] = {}
    async for msg in read_stream(js, BARS_STREAM, ["md.bar.>"]):
        stored[msg.headers["Nats-Msg-Id"]] = msg.metadata.timestamp.timestamp()
    return stored


async def _intent_latencies(
    js: JetStreamContext, bars: dict[str, float], bar_sec: int
) -> tuple[list[float], int]:
    """Intent stored - its bar stored, in ms. An intent is created at its bar's end (the
    worker's clock), so its bar is (symbol, created_ts - bar_sec)."""
    from ops.cluster.codec import decode_intent
    from ops.cluster.replay import read_stream
    from ops.cluster.subjects import INTENTS_STREAM, bar_msg_id

    latencies: list[float] = []
    unmatched = 0
    async for msg in read_stream(js, INTENTS_STREAM, ["intent.>"]):
        order, _ = decode_intent(msg.data)
        bar_at = bars.get(bar_msg_id(order.symbol, order.created_ts - bar_sec))
        if bar_at is None:
            unmatched += 1
            continue
        latencies.append((msg.metadata.timestamp.timestamp() - bar_at) * 1000)
    return latencies, unmatched


def _journal_counts(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as db:
        orders = db.execute("select count(*) from orders").fetchone()[0]
        refusals = db.execute("select count(*) from refusals").fetchone()[0]
    return orders, refusals


def single_process(settings: Settings, bars: list[Bar], folder: Path) -> tuple[float, int]:
    """(bars/s, orders): the engine of `tradebot run` with the same settings over the same
    bars, simulated broker and journal as figure 2 measures it."""
    names = settings.symbols
    journal = Journal(folder / "single.db")
    journal.start()
    clock = ManualClock(start=bars[0].ts)
    broker = SimBroker(SimSettings(slippage_bps=1.0, seed=1), clock)
    engine = Engine(
        symbols=names,
        params=settings.strategy_params(),
        gate=RiskGate(settings.risk_limits(), names, clock),
        book=Book(settings.number("broker.starting_cash"), clock, journal),
        broker=broker,
        clock=clock,
        recorder=journal,
        latency=LatencyTracker(journal, clock),
        vol_window=settings.integer("strategy.vol_window"),
        bar_sec=settings.integer("sim.bar_sec"),
    )
    elapsed = engine_seconds(engine, broker, clock, bars, journal)
    journal.close()
    return len(bars) / elapsed, engine.counters.orders


def measure() -> Figure:
    names = symbols(SYMBOLS)
    # the order manager's simulated clock starts at today's open and follows the bars
    start = session_open(time.time())
    bars = list(synthetic_bars(names, SEED, start, count=BARS_PER_SYMBOL))
    print(
        f"  [12] {SYMBOLS:,} symbols x {BARS_PER_SYMBOL} bars = {len(bars):,} bars; "
        f"ingest --speed 0 -> {WORKERS} workers -> oms, local nats-server"
    )
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        config, data = write_inputs(folder, names, bars)
        settings = load_settings(config)
        run = asyncio.run(run_cluster(config, data, len(bars), settings, folder))
        single, single_orders = single_process(settings, bars, folder)
    rate = run.bars_stored / run.seconds
    p50, p99 = np.percentile(run.latencies_ms, [50, 99]) if run.latencies_ms else (0.0, 0.0)
    print(
        f"       bars stored {run.bars_stored:,}; acked per worker "
        f"{', '.join(f'{n:,}' for n in run.acked_per_worker)} ({run.redelivered} redelivered); "
        f"intents {run.intents:,} ({run.unmatched} without their bar); oms took "
        f"{run.oms_taken:,}, journaled {run.orders:,} orders, {run.refusals:,} refusals"
    )
    print(
        f"       last bar stored {run.ingest_seconds:.1f} s after the first; workers drained "
        f"at {run.seconds:.1f} s ({rate:,.0f} bars/s), the oms at {run.oms_seconds:.1f} s"
    )
    used = ", ".join(f"{name} {sec:.1f}" for name, sec in run.cpu.items())
    print(f"       CPU seconds: {used} ({os.cpu_count()} CPUs x {run.seconds:.0f} s wall)")
    print(
        f"       bar-to-intent p50 {p50:,.0f} ms, p99 {p99:,.0f} ms; single process "
        f"{single:,.0f} bars/s, {single_orders:,} orders"
    )
    return Figure(
        12,
        "cluster throughput, bar-to-intent latency (5,000 symbols)",
        f"{rate:,.0f} bars/s; p50 {p50:,.0f} ms, p99 {p99:,.0f} ms",
        f"{single:,.0f} bars/s (one process, same bars)",
        f"{rate / single:.2f} of one process",
        "none set (first measurement)",
        None,
    )
