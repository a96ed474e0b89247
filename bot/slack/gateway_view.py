"""The gateway's results as text: Slack shows them through the same Block Kit path as any
`Done` (monospaced sections cut to Block Kit's limits), the thread gets the ack line. An
account's answer to a read-only command is rendered by the console's renderer, as the
single-process Slack surface renders the same result."""

from __future__ import annotations

from bot.render_text import render
from ops.cluster.acks import AckReport
from ops.cluster.commands import AccountAnswer, AccountRefused, AccountStatus, AccountUnreachable
from ops.cluster.gateway_changes import ChangeOutcome
from ops.cluster.gateway_results import AccountAnswers, ClusterStatus, ControlOutcome
from ops.shared.formatting import money, signed_money
from ops.shared.results import Done


def ack_line(report: AckReport) -> str:
    """'acknowledged by N of M after S s', then who is still pending and who is silent."""
    line = f"{report.key} (revision {report.revision}): acknowledged by {len(report.acked)} of "
    line += f"{report.expected}"
    if report.after_sec is not None:
        line += f" after {report.after_sec:.1f} s"
    if report.pending:
        line += f"; not yet: {', '.join(report.pending)}"
    if report.silent:
        line += f"; silent: {', '.join(report.silent)}"
    return line


def outcome_done(outcome: ControlOutcome) -> Done:
    verb = {"kill": "KILL", "pause": "pause", "resume": "resume"}[outcome.verb]
    head = f"{verb} {outcome.scope} written by {outcome.by}"
    lines = [ack_line(outcome.report)]
    if outcome.report.acked:
        lines.append(f"acknowledged: {', '.join(outcome.report.acked)}")
    return Done(head, tuple(lines))


def change_done(outcome: ChangeOutcome) -> Done:
    """What the account's order manager did, then who of its processes applied it."""
    lines = list(outcome.done.lines)
    if outcome.unpublished is not None:
        lines.append(
            f"applied by the order manager only; its workers were not told ({outcome.unpublished})"
        )
    if outcome.report is not None:
        lines.append(ack_line(outcome.report))
        if outcome.report.acked:
            lines.append(f"acknowledged: {', '.join(outcome.report.acked)}")
    return Done(f"{outcome.account}: {outcome.done.title}", tuple(lines))


def status_done(status: ClusterStatus) -> Done:
    """Every account, then every process with its heartbeat age; silent ones stand out."""
    in_force = ", ".join(f"{o.key} by {o.requester}" for o in status.orders) or "none"
    head = f"cluster: {len(status.accounts)} account(s), {len(status.components)} process(es)"
    lines = [f"control orders in force: {in_force}"]
    if status.silent:
        lines.append(f"SILENT (no heartbeat): {', '.join(status.silent)}")
    for account in status.accounts:
        lines.extend(_account(account))
    lines.append("processes:")
    silent = set(status.silent)
    for c in status.components:
        mark = "  SILENT" if c.key in silent else ""
        scope = f" [{c.account}]" if c.account else ""
        lines.append(f"  {c.key}{scope}: heartbeat {c.age(status.now):.1f}s ago{mark}")
    return Done(head, tuple(lines))


def answers_done(answers: AccountAnswers) -> Done:
    """Each account's answer under its name; one that did not answer is named unreachable."""
    lines: list[str] = []
    for a in answers.answers:
        if isinstance(a, AccountAnswer):
            lines.append(f"account {a.account}:")
            lines.extend(f"  {line}" for line in render(a.result).splitlines())
        elif isinstance(a, AccountRefused):
            lines.append(f"account {a.account}: refused: {a.error}")
        else:
            lines.append(f"account {a.account}: UNREACHABLE ({a.error})")
    return Done(f"{answers.command}: {len(answers.answers)} account(s)", tuple(lines))


def _account(a: AccountStatus | AccountUnreachable) -> list[str]:
    if isinstance(a, AccountUnreachable):
        return [f"account {a.account}: UNREACHABLE ({a.error})"]
    age = "no bars yet" if a.last_bar_age_sec is None else f"last bar {a.last_bar_age_sec:.0f}s ago"
    lines = [
        f"account {a.account}: {a.state}" + (f" ({a.state_reason})" if a.state_reason else ""),
        f"  equity {money(a.equity)}   day {signed_money(a.day_pnl)}   realized "
        f"{signed_money(a.realized)}   unrealized {signed_money(a.unrealized)}   "
        f"drawdown {a.drawdown:.2%}",
        f"  orders today {a.orders_today}   working {a.working_orders}   fills {a.fills}   {age}",
    ]
    for p in a.positions:
        lines.append(
            f"  {p.symbol:<6} {p.qty:+d} @ {money(p.avg_price)}   {signed_money(p.unrealized)}"
        )
    if a.open_incidents:
        lines.append(f"  open incidents: {', '.join(a.open_incidents)}")
    return lines
