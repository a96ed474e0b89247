"""Building a strategy worker from the settings, and how it follows the control plane."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from ops.cluster.config import ClusterConfig
from ops.cluster.control import ControlPlane, ControlView, OnChange
from ops.cluster.durables import ensure_durable
from ops.cluster.intents import IntentBroker
from ops.cluster.resume import Reconnects
from ops.cluster.subjects import BARS_STREAM, bar_subject, consumer_name, partition_of
from ops.cluster.worker import Worker
from ops.cluster.worker_spec import WorkerSpec, bar_consumer
from ops.config.settings import Settings
from strategy.book import Book
from strategy.clock import BarClock
from strategy.engine import Engine
from strategy.latency import LatencyTracker
from strategy.risk import RiskGate
from strategy.types import TradingState

log = logging.getLogger(__name__)
# what becomes of a bar batch a recreated consumer delivers again
BATCH_AGAIN = "a batch delivered again is dropped bar by bar, each not newer than its symbol's last"


class DropRecorder:
    """The worker journals nothing: the order manager's journal records every intent's fate."""

    def record(self, table: str, row: Mapping[str, object]) -> None:
        return None


def parse_partitions(text: str, partitions: int) -> tuple[int, ...]:
    """`a-b` (inclusive) or `a`; ValueError naming the allowed range."""
    first, _, last = text.partition("-")
    try:
        lo, hi = int(first), int(last or first)
    except ValueError:
        raise ValueError(f"--partitions {text!r}: expected a-b, e.g. 0-{partitions - 1}") from None
    if not 0 <= lo <= hi < partitions:
        raise ValueError(f"--partitions {text!r}: within 0-{partitions - 1}, low to high")
    return tuple(range(lo, hi + 1))


def mirror_control(gate: RiskGate, killed: str | None, paused: str | None) -> TradingState:
    """The control plane's kill or pause (its reason; None = not in force) as the worker's gate
    state, a pre-check only: the order manager enforces them."""
    if killed is not None:
        state, reason = TradingState.HALTED, killed
    elif paused is not None:
        state, reason = TradingState.PAUSED, paused
    else:
        state, reason = TradingState.ACTIVE, ""
    gate.set_state(state, reason)
    return state


def follow_control(gate: RiskGate, control: ControlPlane) -> OnChange:
    """The control plane's callback for a worker: mirror the orders in force, acknowledge."""

    async def on_change(view: ControlView) -> None:
        killed, paused = view.killed, view.paused
        mirror_control(
            gate,
            killed.reason or "kill" if killed else None,
            paused.reason or "pause" if paused else None,
        )
        await control.acknowledge(*view.revisions)

    return on_change


def build_worker(
    js: JetStreamContext,
    settings: Settings,
    cfg: ClusterConfig,
    strategy: str,
    partitions: tuple[int, ...],
    idle_fetch_sec: float = 1.0,
    reconnects: Reconnects | None = None,
) -> Worker:
    """The engine of `tradebot run` (stats, signals, sizing, its own risk gate as a pre-check)
    over the configured symbols of these partitions, on market time (each bar's end)."""
    account = cfg.account_of(strategy)
    symbols = tuple(s for s in settings.symbols if partition_of(s, cfg.partitions) in partitions)
    bar_sec = settings.integer("sim.bar_sec")
    clock = BarClock()
    broker = IntentBroker(js, account, strategy, clock)
    recorder = DropRecorder()
    book = Book(settings.number("broker.starting_cash"), clock, recorder)
    gate = RiskGate(settings.risk_limits(), settings.symbols, clock)
    engine = Engine(
        symbols=symbols,
        params=settings.strategy_params(),
        gate=gate,
        book=book,
        broker=broker,  # type: ignore[arg-type]  # publishes; the order manager does the rest
        clock=clock,
        recorder=recorder,
        latency=LatencyTracker(),
        vol_window=settings.integer("strategy.vol_window"),
        bar_sec=bar_sec,
        equity_every_sec=settings.number("journal.equity_every_sec"),
        order_prefix=f"tb-{strategy}",  # strategies sharing an account never share an id
        fill_log_level=logging.DEBUG,  # the order manager logs each fill; this book mirrors it
    )
    spec = WorkerSpec(
        strategy, account, partitions, cfg.ack_wait_sec, bar_sec, idle_fetch_sec=idle_fetch_sec
    )
    return Worker(js, spec, engine, book, gate, broker, clock, reconnects)


async def upgrade_bar_consumers(
    js: JetStreamContext, cfg: ClusterConfig, strategy: str, partitions: tuple[int, ...]
) -> None:
    """Before the worker binds them: each partition's durable as Worker binds it. The one of
    the version before bar batches filtered the single-bar subjects md.bar.p{PP}.{SYM}: what
    it had not delivered and acknowledged yet (its worker was behind) is skipped, in one line."""
    skipped = 0
    for partition in partitions:
        want = bar_consumer(ConsumerConfig(filter_subject=bar_subject(partition)), cfg.ack_wait_sec)
        name = consumer_name(strategy, partition)
        old = await ensure_durable(js, BARS_STREAM, name, want, BATCH_AGAIN)
        if old is not None and old.config.filter_subject != want.filter_subject:
            skipped += (old.num_pending or 0) + (old.num_ack_pending or 0)
    if skipped:
        log.warning(
            "worker %s: %d bars of the earlier one-bar-per-message format (md.bar.p{PP}.{SYM}) "
            "that its consumers had not acknowledged are skipped, never decided: this version "
            "reads only md.bar.p{PP} batches",
            strategy,
            skipped,
        )
