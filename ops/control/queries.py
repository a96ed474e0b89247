"""Read-only commands: status, pnl, positions/reconcile, config, slippage, and the kill preview."""

from __future__ import annotations

import asyncio
import math

from ops.config.param_spec import allowed_range
from ops.config.settings import PARAMS
from ops.control.parts import ControlParts
from ops.journal.pnl import PERIODS, period_figures
from ops.service.reconcile import compare as compare_positions
from ops.service.reconcile import reconcile as reconcile_positions
from ops.shared import messages
from ops.shared.formatting import format_value, money
from ops.shared.results import (
    CommandError,
    ConfigLine,
    ConfigResult,
    PnlResult,
    PositionLine,
    PositionsResult,
    Result,
    SlippageResult,
    StatusResult,
)
from strategy.venue import BrokerError

PNL_FLUSH_SEC = 2.0  # how long /trade pnl waits for queued fills to reach the journal
KILL_PREVIEW_MAX = 20  # positions named one by one in the kill preview; the rest are summed


def close_lines(held: list[tuple[str, int, float]]) -> list[str]:
    """The kill preview's positions (symbol, qty, value): the biggest first, at most
    KILL_PREVIEW_MAX by name, then one line for the rest, then the totals."""
    biggest = sorted(held, key=lambda h: abs(h[2]), reverse=True)
    lines = [
        f"close {symbol}: {qty:+d} shares, value {money(value)}"
        for symbol, qty, value in biggest[:KILL_PREVIEW_MAX]
    ]
    rest = biggest[KILL_PREVIEW_MAX:]
    if rest:
        value = sum(abs(v) for _, _, v in rest)
        lines.append(messages.KILL_PREVIEW_MORE.format(count=len(rest), value=money(value)))
    if len(held) > 1:
        gross, net = sum(abs(v) for _, _, v in held), sum(v for _, _, v in held)
        lines.append(
            messages.KILL_PREVIEW_TOTAL.format(count=len(held), gross=money(gross), net=money(net))
        )
    return lines


class Queries:
    def __init__(self, parts: ControlParts) -> None:
        self._parts = parts

    async def run(self, name: str, args: tuple[str, ...]) -> Result:
        if name == "status":
            return self.status()
        if name == "pnl":
            return await self.pnl(args[0].lower() if args else "today")
        if name in ("positions", "reconcile"):
            return await self.positions(reconcile=name == "reconcile")
        if name == "config":
            return self.config()
        if name == "slippage":
            return self.slippage()
        raise CommandError(messages.UNKNOWN_COMMAND.format(name=name))

    def status(self) -> StatusResult:
        parts = self._parts
        book, progress, settings = parts.book, parts.progress(), parts.settings()
        counters, last_bar = progress.counters, progress.last_bar_ts
        bar_sec = settings.number("sim.bar_sec")
        now = parts.clock.now()
        return StatusResult(
            strategy=str(settings.get("strategy.name")),
            venue=parts.broker().name,
            state=parts.trading.state,
            state_reason=parts.trading.reason,
            equity=book.equity(),
            day_pnl=book.equity() - book.day_start_equity(),
            realized=book.realized_pnl,
            unrealized=book.unrealized_pnl(),
            commissions=book.commissions,
            drawdown=book.drawdown(),
            positions=tuple(self._position_lines()),
            working_orders=len(book.working_orders()),
            orders_today=parts.gate.orders_today,
            bars=counters.bars,
            signals=counters.signals,
            fills=counters.fills,
            refusals=counters.refusals + counters.broker_rejects,
            last_bar_age_sec=None if last_bar is None else now - last_bar - bar_sec,
            latency=tuple(parts.latency()),
            kill_switch_armed=parts.kill_file().exists(),
            checks=tuple(parts.checks().values()),
            open_incidents=tuple(f"{key}: {msg}" for key, msg in parts.incidents.open.items()),
            as_of=now,
        )

    def _position_lines(self) -> list[PositionLine]:
        book = self._parts.book
        lines = []
        for p in book.positions():
            last = book.last_price(p.symbol)
            price = last[0] if last else None
            unrealized = 0.0 if price is None else (price - p.avg_price) * p.qty
            lines.append(PositionLine(p.symbol, p.qty, p.avg_price, price, unrealized))
        return lines

    async def pnl(self, period: str) -> PnlResult:
        """The period's figures from the journal (across restarts), marked at today's prices."""
        if period not in PERIODS:
            raise CommandError(messages.BAD_PERIOD.format(period=period))
        parts = self._parts
        book, journal = parts.book, parts.journal
        await asyncio.to_thread(journal.flush, PNL_FLUSH_SEC)  # the latest fills count
        figures = await asyncio.to_thread(period_figures, journal, period, parts.clock.now())
        unrealized = book.unrealized_pnl()
        change = unrealized - figures.unrealized_at_start
        return PnlResult(
            period=period,
            since_ts=figures.since_ts,
            pnl=figures.realized + change - figures.commissions,
            realized=figures.realized,
            unrealized_change=change,
            unrealized=unrealized,
            commissions=figures.commissions,
            equity=book.equity(),
            peak_equity=book.peak_equity,
            drawdown=book.drawdown(),
            fills=figures.fills,
        )

    async def positions(self, reconcile: bool) -> PositionsResult:
        if reconcile:
            return await reconcile_positions(self._parts.broker_facing())
        return await compare_positions(self._parts.broker_facing())

    def equity_curve(self) -> list[tuple[float, float]]:
        """(time, equity) points of the book's recent history, for the P&L chart."""
        return self._parts.book.equity_curve

    def config(self) -> ConfigResult:
        settings = self._parts.settings()
        return ConfigResult(
            tuple(
                ConfigLine(
                    path=spec.path,
                    short=spec.short,
                    value=self._shown(spec.path),
                    source=settings.source(spec.path),
                    settable=spec.hot,
                    allowed=allowed_range(spec),
                )
                for spec in PARAMS
            )
        )

    def _shown(self, path: str) -> str:
        """A setting's value; an empty journal.path or kill_switch_file as the file in use."""
        value = format_value(self._parts.settings().get(path))
        if path == "journal.path" and not value:
            return messages.JOURNAL_PER_OWNER.format(path=self._parts.journal.path)
        if path == "monitoring.kill_switch_file" and not value:
            return messages.KILL_FILE_PER_JOURNAL.format(path=self._parts.kill_file())
        return value

    def slippage(self) -> SlippageResult:
        """Count, mean and std over every fill (streaming); p95 and the histogram over the
        most recent fills the book keeps."""
        stats = self._parts.book.slippage_stats
        if not stats.count:
            return SlippageResult(0, math.nan, math.nan, math.nan, ())
        samples = tuple(s.bps for s in stats.recent)
        ordered = sorted(samples)
        p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
        return SlippageResult(stats.count, stats.mean, stats.std, p95, samples)

    async def kill_preview(self) -> tuple[str, ...]:
        """What a kill would do, from the broker's view (falling back to the book's)."""
        parts = self._parts
        lines = []
        try:
            held = [(p.symbol, p.qty, p.market_value) for p in await parts.broker().positions()]
        except BrokerError as exc:
            lines.append(f"broker positions unavailable ({exc}); showing the bot's book")
            held = [
                (p.symbol, p.qty, p.qty * (p.last_price or p.avg_price))
                for p in self._position_lines()
            ]
        lines.extend(close_lines(held))
        if not held:
            lines.append("no open positions")
        working = parts.book.working_orders()
        lines.append(f"cancel {len(working)} open order(s)")
        lines.append(messages.KILL_PREVIEW_AFTER.format(state=parts.trading.state))
        return tuple(lines)
