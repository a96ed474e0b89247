"""A change previewed by what it would have done: the last sessions the service has,
backtested with the value now and with the new one (the engine and costs of `tradebot
backtest`, through ops.backtest), in a worker thread, while the confirmation waits.

A preview never touches the service: it reads the settings and the bars, and builds its own
engine, book and simulated broker for each pass. A failure or a time-out is told in its place;
the confirmation works whether or not a preview came."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ops.backtest.metrics import Metrics, compute
from ops.backtest.run import Setup, run
from ops.backtest.sessions import SessionSource
from ops.backtest.setup import article_costs, backtest_setup
from ops.config.settings import Settings
from ops.shared import messages
from strategy.types import Bar
from strategy.venues.bar_columns import BarColumns

log = logging.getLogger(__name__)
KEPT = 32  # previews waiting for a surface to take them; the oldest beyond are dropped

Spawn = Callable[[str, Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class PreviewStopped(Exception):
    """The preview was given up (timed out or no longer wanted): its thread stops here."""


@dataclass(frozen=True, slots=True)
class Figures:
    round_trips: int
    pnl: float  # after commissions and slippage: final equity - starting cash
    max_drawdown: float

    @classmethod
    def of(cls, metrics: Metrics, starting_cash: float) -> Figures:
        return cls(metrics.trades, metrics.final_equity - starting_cash, metrics.max_drawdown)


@dataclass(frozen=True, slots=True)
class BacktestPreview:
    label: str  # the parameter's name
    old_value: str
    new_value: str
    wanted: int  # sessions asked for (confirm.preview_sessions)
    dates: tuple[str, ...] = ()  # New York dates of the sessions used
    old: Figures | None = None
    new: Figures | None = None
    problem: str | None = None  # why there are no figures

    @property
    def lines(self) -> tuple[str, ...]:
        if self.problem is not None or self.old is None or self.new is None:
            return (self.problem or messages.PREVIEW_FAILED.format(error="no figures"),)
        return messages.preview_table(
            self.label,
            self.old_value,
            self.new_value,
            self.wanted,
            self.dates,
            (self.old.round_trips, self.old.pnl, self.old.max_drawdown),
            (self.new.round_trips, self.new.pnl, self.new.max_drawdown),
        )


@dataclass(frozen=True, slots=True)
class Ticket:
    """A preview on its way: what to show meanwhile, and the task that brings it."""

    pending: str
    task: asyncio.Task[BacktestPreview]


def backtest_pair(
    bars: Sequence[Bar], setups: tuple[Setup, Setup], stop: threading.Event
) -> tuple[Metrics, Metrics]:
    """Both passes, as `tradebot backtest` runs its costed one (blocking: a worker thread's);
    PreviewStopped as soon as `stop` is set."""
    columns = BarColumns.of(bars)

    def progress(done: int, total: int) -> None:
        if stop.is_set():
            raise PreviewStopped

    old, new = (compute(asyncio.run(run(columns, s, progress)), columns) for s in setups)
    return old, new


class Previews:
    def __init__(
        self, settings: Callable[[], Settings], source: SessionSource | None, spawn: Spawn
    ) -> None:
        self._settings = settings
        self.source = source
        self._spawn = spawn
        self._tickets: dict[str, Ticket] = {}

    def start(
        self, nonce: str, label: str, old: tuple[Settings, str], new: tuple[Settings, str]
    ) -> None:
        """Begin the preview of a change held behind confirmation `nonce` ((settings, value
        as shown) before and after); nothing when there is no source or previews are off."""
        count = self._settings().integer("confirm.preview_sessions")
        if self.source is None or count == 0:
            return
        base = BacktestPreview(label, old[1], new[1], count)
        task = self._spawn(f"preview:{nonce[:8]}", self._preview(base, old[0], new[0]))
        self._tickets[nonce] = Ticket(messages.PREVIEW_PENDING.format(count=count), task)
        while len(self._tickets) > KEPT:
            dropped = self._tickets.pop(next(iter(self._tickets)))
            dropped.task.cancel()

    def take(self, nonce: str) -> Ticket | None:
        """The preview of confirmation `nonce`, for the surface that shows it (once)."""
        return self._tickets.pop(nonce, None)

    async def _preview(
        self, base: BacktestPreview, before: Settings, after: Settings
    ) -> BacktestPreview:
        setups = (
            backtest_setup(before, article_costs(before)),
            backtest_setup(after, article_costs(after)),
        )
        timeout = before.number("confirm.preview_timeout_sec")
        stop = threading.Event()
        try:
            async with asyncio.timeout(timeout):
                assert self.source is not None
                sessions = await self.source.last(base.wanted)
                if not sessions.dates:
                    return replace(base, problem=messages.PREVIEW_NO_HISTORY)
                old, new = await asyncio.to_thread(backtest_pair, sessions.bars, setups, stop)
        except TimeoutError:
            stop.set()
            return replace(base, problem=messages.PREVIEW_TIMED_OUT.format(sec=timeout))
        except asyncio.CancelledError:
            stop.set()
            raise
        except Exception as exc:  # told in the message; the confirmation still works
            stop.set()
            log.warning("preview of %s failed", base.label, exc_info=True)
            error = f"{type(exc).__name__}: {exc}"
            return replace(base, problem=messages.PREVIEW_FAILED.format(error=error))
        cash = setups[0].starting_cash
        return replace(
            base,
            dates=sessions.dates,
            old=Figures.of(old, cash),
            new=Figures.of(new, cash),
        )
