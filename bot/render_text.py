"""Plain-text rendering of command results for the terminal console."""

from __future__ import annotations

from ops.shared import messages
from ops.shared.formatting import age, money, signed_money
from ops.shared.results import (
    CashCompare,
    ChecklistResult,
    CheckResult,
    ConfigResult,
    ConfirmRequest,
    Done,
    HelpResult,
    KillReport,
    PnlResult,
    PositionsResult,
    Result,
    RunSummary,
    SlippageResult,
    StatusResult,
)
from strategy.latency import StageStats
from strategy.market_day import market_time

CONFIG_VALUE_WIDTH = 32


def latency_lines(stats: tuple[StageStats, ...]) -> list[str]:
    return [
        f"  {s.stage:<9} p50 {s.p50_us:9.1f} us   p99 {s.p99_us:9.1f} us   (n={s.count})"
        for s in stats
    ]


def render(result: Result) -> str:
    match result:
        case StatusResult():
            return _status(result)
        case PnlResult():
            since = market_time(result.since_ts)
            return "\n".join(
                [
                    f"P&L {result.period} (since {since}): {signed_money(result.pnl)} net",
                    f"  realized {signed_money(result.realized)}   unrealized change "
                    f"{signed_money(result.unrealized_change)} (now "
                    f"{signed_money(result.unrealized)})   commissions {money(result.commissions)}",
                    f"  equity {money(result.equity)}   peak {money(result.peak_equity)}   "
                    f"drawdown {result.drawdown:.2%}   fills {result.fills}",
                ]
            )
        case PositionsResult():
            return _positions(result)
        case ConfigResult():
            return _config(result)
        case SlippageResult():
            if result.count == 0:
                return "no fills yet: no slippage to report"
            return (
                f"slippage over {result.count} fills: mean {result.mean_bps:.2f} bps, "
                f"std {result.std_bps:.2f} bps, p95 {result.p95_bps:.2f} bps (positive = worse)"
            )
        case HelpResult():
            return "\n".join(result.lines)
        case ConfirmRequest():
            return "\n".join([result.title, *(f"  - {line}" for line in result.lines)])
        case Done():
            return "\n".join([result.title, *(f"  {line}" for line in result.lines)])
        case ChecklistResult():
            return _checklist(result)
        case KillReport():
            return render_kill(result)
    raise TypeError(f"no text rendering for {type(result).__name__}")


def _config(r: ConfigResult) -> str:
    """Columns as wide as their widest cell, so a long name never shifts the rest; a value
    wider than CONFIG_VALUE_WIDTH is shown whole, its source and range on the next line, in
    their columns."""
    rows = [("parameter", "value", "source", "allowed")]
    for line in r.lines:
        name = line.path + (f" ({line.short})" if line.short else "")
        mark = "" if line.settable else "  [restart to change]"
        rows.append((name, line.value, line.source, line.allowed + mark))
    name_width = max(len(row[0]) for row in rows)
    value_width = min(CONFIG_VALUE_WIDTH, max(len(row[1]) for row in rows))
    source_width = max(len(row[2]) for row in rows)
    text = []
    for name, value, source, allowed in rows:
        rest = f"{source:<{source_width}}  {allowed}"
        if len(value) > value_width:
            text.append(f"{name:<{name_width}}  {value}")
            text.append(f"{'':<{name_width + value_width + 2}}  {rest}")
        else:
            text.append(f"{name:<{name_width}}  {value:<{value_width}}  {rest}")
    return "\n".join(text)


def _checklist(r: ChecklistResult) -> str:
    marks = {"pass": "[x]", "fail": "[ ]", "unknown": "[?]"}
    lines = ["Pre-deploy checklist (the article's, from what the journal knows):"]
    for item in r.items:
        lines.append(f"{marks[item.verdict]} {item.verdict.upper():<7} {item.name}")
        lines.append(f"              {item.evidence}")
    lines.append("ready to deploy" if r.ready else "NOT ready: every line must pass")
    return "\n".join(lines)


def _status(r: StatusResult) -> str:
    age = "no bars yet" if r.last_bar_age_sec is None else f"{r.last_bar_age_sec:.0f}s"
    lines = [
        f"{r.strategy} on {r.venue}: {r.state}"
        + (f" ({r.state_reason})" if r.state_reason else ""),
        f"  equity {money(r.equity)}   day {signed_money(r.day_pnl)}   realized "
        f"{signed_money(r.realized)}   unrealized {signed_money(r.unrealized)}   "
        f"drawdown {r.drawdown:.2%}",
        f"  bars {r.bars}   signals {r.signals}   fills {r.fills}   refusals {r.refusals}   "
        f"orders today {r.orders_today}   working {r.working_orders}   last bar age {age}",
    ]
    if r.kill_switch_armed:
        lines.append("  KILL SWITCH FILE PRESENT")
    for p in r.positions:
        last = "n/a" if p.last_price is None else f"{p.last_price:.2f}"
        lines.append(
            f"  {p.symbol:<6} {p.qty:+6d} @ {p.avg_price:.2f}  last {last}  "
            f"unrealized {signed_money(p.unrealized)}"
        )
    if r.latency:
        lines.append("  latency per stage:")
        lines.extend(latency_lines(r.latency))
    if r.checks:
        lines.append("  health checks (ages in market time):")
        lines.extend(f"  {c.level.value.upper():<8} {c.key:<14} {_check(c, r)}" for c in r.checks)
    if r.open_incidents:
        lines.append(f"  open incidents ({len(r.open_incidents)}):")
        lines.extend(f"  - {incident}" for incident in r.open_incidents)
    return "\n".join(lines)


def _check(c: CheckResult, r: StatusResult) -> str:
    """A check's verdict with its age, and, when it rests on a trading state that has changed
    since, which one: a HALTED verdict never reads as today's under ACTIVE."""
    notes = []
    if c.checked_at is not None and r.as_of is not None:
        notes.append(f"{age(r.as_of - c.checked_at)} ago")
    if c.state is not None and c.state is not r.state:
        notes.append(messages.CHECK_BEFORE_CHANGE.format(then=c.state, now=r.state))
    return c.message + (f"  ({'; '.join(notes)})" if notes else "")


def _positions(r: PositionsResult) -> str:
    lines = [f"{'symbol':<8} {'book':>8} {'broker':>8}  match"]
    for row in r.rows:
        broker = "?" if row.broker_qty is None else str(row.broker_qty)
        lines.append(
            f"{row.symbol:<8} {row.book_qty:>8} {broker:>8}  {'yes' if row.matches else 'NO'}"
        )
    if not r.rows:
        lines.append("(no positions in the book or at the broker)")
    if r.cash is not None:
        lines.append(_cash(r.cash))
    if r.broker_error:
        lines.append(f"broker unavailable: {r.broker_error}")
    if r.reconcile:
        n = len(r.mismatches)
        lines.append(
            "reconciled: book and broker agree" if n == 0 else f"MISMATCH on {n} symbol(s)"
        )
    return "\n".join(lines)


def _cash(c: CashCompare) -> str:
    line = f"cash: book {money(c.book)}, broker {'?' if c.broker is None else money(c.broker)}"
    if c.gap is None:
        return line
    if c.foreign_cost:
        line += f" (which paid {money(c.foreign_cost)} for the shares held for you)"
    if c.operator_pnl:
        line += messages.OPERATOR_PNL.format(pnl=signed_money(c.operator_pnl))
    return f"{line}  {'match' if c.matches else f'MISMATCH {signed_money(c.gap)}'}"


def render_kill(r: KillReport) -> str:
    head = "FLAT" if r.flat else "NOT FLAT: positions remain, still retrying"
    if r.closed_until is not None:
        head = f"NOT FLAT: {messages.waiting_for_open(r.closed_until)}; retries from then"
    lines = [
        f"KILL by {r.user}: {head} after {r.elapsed_sec:.2f}s; "
        f"canceled {r.canceled_orders} order(s)"
    ]
    for e in r.exits:
        price = "no fill" if e.avg_price is None else f"@ {e.avg_price:.2f}"
        slip = "" if e.slippage_bps is None else f", slippage {e.slippage_bps:+.2f} bps"
        left = f", {e.remaining:+d} STILL OPEN" if e.remaining else ""
        lines.append(
            f"  {e.symbol:<6} closed {e.filled_qty} of {e.qty_before:+d} {price}{slip}{left}"
        )
    lines.extend(f"  error: {err}" for err in r.errors)
    return "\n".join(lines)


def render_summary(s: RunSummary) -> str:
    lines = [
        f"stopped after {s.duration_sec:.1f}s, state {s.state}",
        f"  bars {s.bars}   signals {s.signals}   orders {s.orders}   fills {s.fills}   "
        f"refusals {s.refusals}",
        f"  P&L realized {signed_money(s.realized)}   unrealized {signed_money(s.unrealized)}   "
        f"commissions {money(s.commissions)}   equity {money(s.equity)}",
        f"  journal rows written {s.journal_rows}",
    ]
    if s.latency:
        lines.append("  latency per stage:")
        lines.extend(latency_lines(s.latency))
    return "\n".join(lines)
