"""Every user-facing sentence the command core produces, in one place."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ops.shared.formatting import signed_money
from strategy.market_day import market_time

USAGE = (
    "usage: status | pnl [today|week|all] | positions | reconcile | config | "
    "set <param> <value> [--open] | reset <param> | pause | resume | kill | slippage | "
    "adopt <symbol> | cancel-order <id> | ack <incident> | resolve <incident> | checklist | "
    "test-alert | help"
)

HELP = (
    "status                 trading state, equity, positions, latency",
    "pnl [today|week|all]   P&L, drawdown vs peak",
    "positions              the bot's book beside the broker's positions",
    "reconcile              compare book and broker now; mismatches are listed",
    "config                 every parameter, its value and where it came from",
    "set <param> <value>    change a threshold (asks to confirm); add --open to apply it",
    "                       to open positions too (otherwise they keep their entry values)",
    "reset <param>          drop a runtime change, back to config.yaml (asks to confirm)",
    "pause                  stop new entries; exits still run",
    "resume                 allow entries again (asks to confirm)",
    "kill                   halt, cancel all orders, close every position (asks to confirm)",
    "slippage               realized slippage of fills: mean, std, p95 (bps)",
    "adopt <symbol>         take the broker's position for a symbol into the book (confirm)",
    "cancel-order <id>      cancel one working order by its client order id",
    "ack <incident>         acknowledge an open incident (e.g. `ack feed-stale`)",
    "resolve <incident>     close an incident by hand (a failing check opens it again)",
    "checklist              the pre-deploy checklist: pass/fail/unknown with the evidence",
    "test-alert             fire (and resolve) a test incident: do alerts reach you?",
    "help                   this list",
)
CONSOLE_HELP = ("quit                   stop the service (also `exit`, `q`, or Ctrl-D)",)
CONSOLE_USAGE = " | quit"  # the console's own command, after the core's usage

UNKNOWN_COMMAND = "unknown command '{name}'. " + USAGE
EMPTY_COMMAND = "no command given. " + USAGE
CHECK_BEFORE_CHANGE = "checked while trading was {then}, before it became {now}"
COMMAND_TOO_LONG = "too long for a command (over {most} characters): '{start}'; nothing was run"
LINE_TOO_LONG = (
    "too long for a command (over {most} characters): a line of {length:,} bytes; nothing was run"
)
BAD_PERIOD = "unknown period '{period}': use today, week or all"
SET_USAGE = "usage: set <param> <value> [--open], e.g. `set entry_z 2.2`"
RESET_USAGE = "usage: reset <param>, e.g. `reset entry_z`"
# the cluster gateway's changes of one account (ops/cluster/gateway_changes.py)
CLUSTER_OUTPUT_CLOSED = "its output was closed: every role is stopped, quietly"
CLUSTER_NAME_ACCOUNT = "`{name}` changes one account: add `--account NAME` ({accounts})"
CLUSTER_CHANGE_REACHES = (
    "applied by {account}'s order manager and every worker of its strategies, kept across "
    "their restarts; the thread says who acknowledged"
)
CLUSTER_CHANGE_UNKNOWN = (
    "{account}: {error} after Confirm: the change may or may not be applied; "
    "`config --account {account}` shows the values in force"
)
NOT_SETTABLE = "{path} cannot be changed at runtime; edit config.yaml and restart"
UNCHANGED = "{name} is already {value}; nothing to change"
NO_OVERRIDE = "{name} has no runtime change to reset (it is {value} from {source})"
CHANGED_SINCE = (
    "{name} changed since this was asked ({old} is now {now}); nothing applied, ask again"
)
EXTRA_ARGS = "unexpected '{extra}'. {usage}"

NO_LONGER_VALID = "this confirmation is no longer valid (already used, cancelled or unknown)"
EXPIRED = "this {kind} confirmation expired; nothing was changed. Ask again."
FOUR_EYES = "four-eyes is on: a different operator must confirm this"
NOT_REQUESTER = "only <@{requester}> can confirm or cancel this"
CANCELLED = "Cancelled by {user}; nothing changed."

ALREADY = "trading is already {state}; nothing changed"
PAUSE_WHILE_HALTED = (
    "trading is HALTED; pause would not change anything (use resume after checking)"
)
PAUSE_TAKEN_FROM_DEADMAN = (
    "Paused by {user}: no new entries; exits still run. The dead-man's pause ({reason}) is "
    "now {user}'s: it stays when the feed and the broker are healthy again, until someone resumes."
)
RESUME_BLOCKED_KILL_FILE = "the kill switch file {path} exists: remove it before resuming"
RESUME_BLOCKED_KILL_RUNNING = "a kill is running: wait for its outcome, then ask again"
CONTROL_KEPT = (
    "{key} was {what}, which is not a resume: the {kind} by {by} stays in force until a "
    "resume confirmed through the gateway"
)
CONTROL_NO_RESUME = (
    "{state} by the control plane, and {key} holds no resume record (deleted?): it stays "
    "{state} until a resume confirmed through the gateway"
)
CONTROL_HOLDS = "{what}: only a resume confirmed through the cluster's gateway lifts it"
RESUME_WRITTEN_SINCE = (
    "{key} was written since you asked (revision {shown} then, {now} now): {written}; ask again"
)
STATE_CHANGED_SINCE = "the state changed since you asked: {change}; nothing applied, ask again"
RESUME_REQUEST_BAD = "refused: the resume request {path} is not one ({error})"
RESUME_REQUEST_LEFT = "; it could not be removed ({error}): remove it by hand"
KILL_FILE_UNWATCHED = (
    "the kill switch file {path} cannot be checked ({error}): a kill file is not seen while "
    "this lasts; use `/trade kill` or the console"
)
KILL_FILE_WATCHED = "the kill switch file is checked again"
KILL_CLEARED_HALTED = (
    "kill switch file {path} removed; trading stays HALTED ({source} says so) until someone "
    "resumes (`tradebot resume`)"
)
KILL_CLEARED_NO_KILL = (
    "kill switch file {path} removed; there was no kill to clear: {source} holds {now}"
)
KILL_FAILED = "the kill failed: {error}"
KILL_CARRIES_ON = (
    "trading was HALTED at the last stop (by {by}) with {count} position(s) still open: "
    "the kill carries on flattening them"
)

ADOPT_USAGE = "usage: adopt <symbol>, e.g. `adopt SPY` (after `reconcile` shows a difference)"
ADOPT_AGREE = "book and broker already agree on {symbol} ({qty:+d}); nothing to adopt"
ADOPT_MOVED = "the broker's {symbol} position changed since this was asked; nothing applied"
ADOPTED = (
    "{symbol}: the book holds the broker's {qty:+d}, by {user}: it bought the {added:+d} it "
    "lacked at {price:.2f} ({source}); their P&L until then, {gain}, stays yours"
)
OPERATOR_PNL = ", with {pnl} of your own P&L (your shares until adopted, your orders)"


def adopt_preview(
    symbol: str, added: int, qty: int, avg: float, price: float, source: str, gain: float
) -> tuple[str, ...]:
    """What confirming `adopt` does: the book buys the missing shares at the market price."""
    return (
        f"the book's {symbol} position becomes the broker's {qty:+d}; no order is sent",
        f"the book buys the {added:+d} shares it does not have at the market price when you "
        f"confirm (now {price:.2f}, {source}), so its equity does not move",
        f"their P&L until then (now {signed_money(gain)} against the broker's average "
        f"{avg:.2f}) stays yours: it is not in today's P&L, the daily loss limit or the drawdown",
        "the strategy trades the symbol again from now on",
    )


ACK_USAGE = "usage: {verb} <incident>, e.g. `{verb} feed-stale`; open: {open}"
ACK_UNKNOWN = "no open incident '{key}'; open: {open}"
CANCEL_ORDER_USAGE = "usage: cancel-order <client_order_id>, as the incident names it"
CANCEL_ORDER_UNKNOWN = "no working order '{coid}' (see `/trade status` for working orders)"
CANCEL_ORDER_FAILED = "the broker refused to cancel {coid}: {error}"
FOREIGN_ORDER = (
    "{symbol}: an open order at the broker that the journal never sent: {coid} ({side} {qty}, "
    "{status}). It stays yours: its fills are held for you, not traded by the strategy until "
    "you adopt them, and {symbol} sends nothing else while it works. Leave it to work, or "
    "cancel it: `/trade cancel-order {coid}`"
)
FOREIGN_FILLED = (
    "{symbol}: your order {coid} filled ({side} {qty}): the broker holds {held:+d} shares of "
    "yours; the strategy does not trade {symbol} until you adopt them "
    "(`/trade adopt {symbol}`); they count in exposure limits"
)

# The kill preview summarises a long book: the biggest positions, then the rest in one line.
KILL_PREVIEW_MORE = "and {count} more position(s), value {value}"
KILL_PREVIEW_TOTAL = "total: {count} position(s), gross {gross}, net {net}"
KILL_PREVIEW_AFTER = "state now {state}; after the kill, HALTED until someone resumes"

# Slack: what the user sees when Slack would not take a reply (sent via the response_url).
SLACK_NOT_IN_CHANNEL = (
    "I am not in <#{channel}>, so I cannot post there: invite @tradebot to <#{channel}> "
    "(`/invite @tradebot`), then ask again."
)
SLACK_TOO_LONG = "Slack would not show that in full (too long for one message): summary below."
SLACK_REFUSED = "Slack refused that message ({error})."
SLACK_WITHDRAWN = "Nothing is waiting for a Confirm and nothing was changed: ask again."
SLACK_MORE_LINES = "... and {count} more line(s) not shown"
SLACK_HOME_REFUSED = "(Slack would not redraw your Home tab ({error}), so this comes here.)"
SLACK_SHORTENED = "... ({count} more characters in the journal)"  # an alert cut to fit
SLACK_TOKENS_SWAPPED = (
    "SLACK_BOT_TOKEN holds an app-level token (xapp-) and SLACK_APP_TOKEN a bot token (xoxb-): "
    "they are swapped; exchange their values"
)
SLACK_TOKEN_WRONG = "{variable} holds {found}, not {wanted}"
SLACK_TOKEN_KINDS: dict[str | None, str] = {
    "bot": "a bot token (xoxb-: OAuth & Permissions, Bot User OAuth Token)",
    "app": "an app-level token (xapp-: Basic Information, App-Level Tokens, connections:write)",
    "user": "a user token (xoxp-)",
    None: "no Slack token (it starts with none of xoxb-, xapp-, xoxp-)",
}
SLACK_DOWN = "the Slack connection is down{reason}; commands cannot reach us, retrying"

# Start-up: a broker read that still fails after its retries stops the start, in one line.
STARTUP_UNREACHABLE = "cannot reach the {what} after {attempts} tries: {error}"
STARTUP_REFUSED = "the {what} refused: {error}"
STARTUP_KEYS_REFUSED = (
    "{error}; check ALPACA_API_KEY and ALPACA_SECRET_KEY "
    "(paper keys need broker.paper: true, live keys false)"
)


def waiting_for_open(closed_until: float) -> str:
    """Why a kill is not flat after hours: the broker holds market orders for the open."""
    opens = market_time(closed_until)
    return f"the market is closed until {opens}: the broker holds the closes for the open"


JOURNAL_PER_OWNER = "{path} (journal.path empty: one per venue and account)"
KILL_FILE_PER_JOURNAL = "{path} (kill_switch_file empty: beside the journal)"
HEALTH_OTHER_SERVICE = (
    "the health endpoint on port {port} is another service's ({owner}, journal {journal}, kill "
    "file {kill_file}), not the one watching {path}: what it says is not this service's "
    "(give each service on a host its own monitoring.health_port)"
)
KILL_FILE_ELSEWHERE = (
    "the same file name in another folder: a relative journal.dir is taken from the current "
    "directory, so run this where that service runs (or give journal.dir as an absolute path)"
)


def bar_symbols(present: Iterable[str], configured: Sequence[str]) -> str:
    """The symbols a bar file has, beside strategy.symbols (`backtest --data`, `run --data`)."""
    found = sorted(present)
    line = f"{len(found)} symbol(s) ({', '.join(found)})"
    untraded = [s for s in found if s not in configured]
    missing = [s for s in configured if s not in found]
    if untraded:
        line += f"; not in strategy.symbols, never traded: {', '.join(untraded)}"
    if missing:
        line += f"; no bars for {', '.join(missing)}"
    return line


def replay_finished(bars: int, pnl: float, waits: bool) -> str:
    """The end of a `run --data` replay; P&L is the change in equity, costs included."""
    then = "the console stays open until `quit`" if waits else "stopping"
    return f"replay finished: {bars:,} bars, P&L {signed_money(pnl)}; {then}"


# The backtest preview of a `set` / `reset` (ops/control/preview.py).
PREVIEW_PENDING = "backtest of the last {count} sessions with each value: computing..."
PREVIEW_NO_HISTORY = (
    "backtest preview: no history yet (no complete session in the bars this service has)"
)
PREVIEW_TIMED_OUT = (
    "backtest preview timed out after {sec:g} s (confirm.preview_timeout_sec); "
    "the change can still be confirmed"
)
PREVIEW_FAILED = "backtest preview failed ({error}); the change can still be confirmed"


def preview_table(
    name: str,
    old: str,
    new: str,
    wanted: int,
    dates: Sequence[str],
    before: tuple[int, float, float],
    after: tuple[int, float, float],
) -> tuple[str, ...]:
    """The old and the new value side by side: (round trips, P&L after costs, max drawdown)."""
    span = dates[0] if len(dates) == 1 else f"{dates[0]} .. {dates[-1]}"
    used = (
        f"the last {wanted} sessions"
        if len(dates) >= wanted
        else f"{len(dates)} of {wanted} sessions available"
    )
    width = max(14, len(old) + len(name) + 5, len(new) + len(name) + 5)

    def row(label: str, a: str, b: str) -> str:
        return f"{label:<16}{a:>{width}}{b:>{width}}"

    return (
        f"backtest of {used} ({span}, New York dates), "
        "same engine and costs as `tradebot backtest`:",
        row("", f"{name} {old} now", f"{name} {new}"),
        row("round trips", str(before[0]), str(after[0])),
        row("P&L after costs", signed_money(before[1]), signed_money(after[1])),
        row("max drawdown", f"{before[2]:.3%}", f"{after[2]:.3%}"),
    )


# Research evidence (issue 23): what a backtest may claim, and from what
REFERENCE_NEEDS_MARKET_DATA = (
    "--as-reference needs market data (--data FILE or --alpaca START END): synthetic bars are "
    "made up, and live trading would be held to them (drawdown alert, drift check); nothing run"
)
REFERENCE_IGNORED = "the reference of {day} on {source} is ignored: {why}"
REFERENCE_NOT_MARKET_DATA = "{source} is not market data (only --data or --alpaca bars are)"
LIVE_SLIPPAGE_TOO_FEW = (
    "--slippage live: the journal has {found} ({limit} limit-order fill(s) left out: a limit "
    "fills at its price or better, never like a market order); it needs at least {needs}: use "
    "article, config or a number of bps"
)
LIVE_SLIPPAGE_SAID = (
    "drawn from {market:,} live market-order fills (mean {mean:+.2f} bps; {limit:,} limit "
    "fill(s) left out)"
)
SMALL_SAMPLE = "n/a ({days} days; needs {needs})"
NO_ROUND_TRIPS = "n/a (no round trips)"
NO_VARIATION = "n/a (no day-to-day variation)"
