"""Every setting: its dotted path, type, default, allowed range and one-line meaning."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ops.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ParamSpec:
    path: str
    kind: type
    default: object
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    short: str | None = None
    hot: bool = False  # may be changed at runtime with `set`


def _p(
    path: str,
    kind: type,
    default: object,
    doc: str,
    low: float | None = None,
    high: float | None = None,
    *,
    short: str | None = None,
    hot: bool = False,
    choices: tuple[str, ...] | None = None,
) -> ParamSpec:
    return ParamSpec(path, kind, default, doc, low, high, choices, short, hot)


PARAMS: tuple[ParamSpec, ...] = (
    _p("strategy.name", str, "MeanReversionV1", "name shown in status and alerts"),
    _p("strategy.symbols", list, ["SPY", "QQQ", "IWM", "AAPL", "MSFT"], "symbols traded"),
    _p(
        "strategy.lookback",
        int,
        20,
        "closes in the rolling window",
        3,
        500,
        short="lookback",
        hot=True,
    ),
    _p(
        "strategy.entry_z_threshold",
        float,
        2.0,
        "enter when |z| exceeds this",
        0.1,
        10,
        short="entry_z",
        hot=True,
    ),
    _p(
        "strategy.exit_z_threshold",
        float,
        0.5,
        "exit when |z| falls below this",
        0,
        10,
        short="exit_z",
        hot=True,
    ),
    _p(
        "strategy.position_risk_pct",
        float,
        0.01,
        "equity risked per trade",
        0.0001,
        0.1,
        short="risk_pct",
        hot=True,
    ),
    _p(
        "strategy.signal_cooldown_sec",
        float,
        60.0,
        "quiet time per symbol after a signal",
        0,
        86400,
        short="cooldown",
        hot=True,
    ),
    _p(
        "strategy.max_qty",
        int,
        100,
        "largest order the sizing may produce",
        1,
        100000,
        short="max_qty",
        hot=True,
    ),
    _p(
        "strategy.entry_offset",
        float,
        0.001,
        "limit price offset from the close",
        0,
        0.05,
        short="entry_offset",
        hot=True,
    ),
    _p("strategy.vol_window", int, 10, "returns in the volatility estimate", 2, 499),
    _p("risk.max_order_notional", float, 50000.0, "largest order value ($)", 1, 1e9, hot=True),
    _p(
        "risk.max_position_qty",
        int,
        1000,
        "largest position per symbol (shares)",
        1,
        10_000_000,
        hot=True,
    ),
    _p(
        "risk.max_gross_exposure",
        float,
        250000.0,
        "largest sum of |position| x price ($)",
        1,
        1e10,
        hot=True,
    ),
    _p("risk.max_orders_per_day", int, 400, "orders per New York day", 1, 100000, hot=True),
    _p("risk.max_daily_loss_pct", float, 0.03, "day loss that stops entries", 0.001, 1, hot=True),
    _p(
        "risk.price_collar_pct",
        float,
        0.02,
        "largest limit distance from the last price",
        0.0001,
        0.5,
        hot=True,
    ),
    _p(
        "risk.stale_bar_sec", float, 180.0, "no entries on bars older than this", 1, 86400, hot=True
    ),
    _p("risk.max_order_qty", int, 500, "largest order (shares)", 1, 10_000_000, hot=True),
    _p("risk.max_orders_per_minute", int, 30, "orders per rolling minute", 1, 10000, hot=True),
    _p(
        "risk.reference_max_age_sec",
        float,
        120.0,
        "oldest last price the collar accepts",
        1,
        86400,
        hot=True,
    ),
    _p("broker.name", str, "sim", "venue", choices=("sim", "alpaca")),
    _p("broker.paper", bool, True, "Alpaca paper trading; live only when false"),
    _p("broker.base_url", str, "", "Alpaca trading REST override (empty = by broker.paper)"),
    _p("broker.data_feed", str, "iex", "Alpaca market data feed", choices=("iex", "sip")),
    _p("broker.commission_per_share", float, 0.005, "commission ($/share)", 0, 1),
    _p(
        "broker.slippage_bps",
        float,
        1.0,
        "the run simulator's market order slippage (bps); backtests: --slippage",
        0,
        1000,
    ),
    _p("broker.starting_cash", float, 100000.0, "simulated account cash ($)", 1, 1e10),
    _p("broker.partial_fill_prob", float, 0.0, "chance a simulated order fills partly", 0, 1),
    _p("broker.seed", int, 7, "seed of the simulator and synthetic bars", 0, 2**31),
    _p("broker.requests_per_min", float, 200.0, "Alpaca REST pacing (requests/minute)", 1, 10000),
    _p("broker.timeout_sec", float, 10.0, "timeout of every Alpaca call (s)", 0.1, 120),
    _p("broker.startup_attempts", int, 5, "tries of each Alpaca read at start-up", 1, 100),
    _p("broker.startup_retry_sec", float, 0.5, "first start-up retry wait (s, doubling)", 0, 60),
    _p("broker.regular_hours_only", bool, True, "no entries while the market clock says closed"),
    _p(
        "broker.lookup_retry_sec",
        float,
        1.0,
        "first wait before looking up an order of unknown outcome again (doubles to 30 s)",
        0.001,
        60,
    ),
    _p("broker.trading_stream_url", str, "", "Alpaca trade_updates websocket override"),
    _p("broker.data_stream_url", str, "", "Alpaca market data websocket override"),
    _p("broker.data_url", str, "", "Alpaca historical data REST override"),
    _p("sim.data", str, "", "CSV of bars to replay; empty = synthetic bars"),
    _p("sim.speed", float, 600.0, "simulated seconds per real second (0 = max)", 0, 1e7),
    _p("sim.bar_sec", int, 60, "bar length (s)", 1, 86400),
    _p("slack.channel", str, "", "channel for status and heartbeats"),
    _p("slack.alerts_channel", str, "", "channel for alert threads"),
    _p("slack.operators", list, [], "user ids allowed to change things"),
    _p("slack.viewers", list, [], "user ids allowed to read; empty = anyone in allowed channels"),
    _p("slack.allowed_channels", list, [], "channel ids commands are taken from; empty = any"),
    _p("slack.four_eyes", bool, False, "confirmations need a different operator"),
    _p("slack.api_url", str, "", "Slack Web API base override"),
    _p("slack.daily_summary_time", str, "16:10", "New York time of the daily summary (HH:MM)"),
    _p("monitoring.heartbeat_sec", float, 60.0, "heartbeat interval (s)", 1, 3600),
    _p("monitoring.health_check_sec", float, 15.0, "health check interval (s)", 1, 3600),
    _p(
        "monitoring.alert_repeat_sec",
        float,
        60.0,
        "least time between thread replies per alert",
        0,
        86400,
    ),
    _p("monitoring.max_trades_per_day", int, 250, "alert above this many orders a day", 1, 100000),
    _p("monitoring.drawdown_alert_pct", float, 0.15, "alert at this drawdown from peak", 0.001, 1),
    _p(
        "monitoring.latency_alert_ms",
        float,
        1000.0,
        "alert when p99 bar-to-order exceeds",
        1,
        60000,
    ),
    _p("monitoring.reconcile_every_min", float, 5.0, "book vs broker check interval", 0.1, 1440),
    _p("monitoring.health_port", int, 8787, "health endpoint on 127.0.0.1; 0 = off", 0, 65535),
    _p(
        "monitoring.stale_after_sec",
        float,
        120.0,
        "feed/engine heartbeat age that fails (market s)",
        1,
        86400,
    ),
    _p(
        "monitoring.no_trade_alert_hours",
        float,
        4.0,
        "alert after this long with no order",
        0.1,
        240,
    ),
    _p(
        "monitoring.pause_on_slack_lost_sec",
        float,
        0.0,
        "pause entries after Slack is unreachable this long; 0 = never",
        0,
        86400,
    ),
    _p(
        "monitoring.max_drawdown_tolerance",
        float,
        0.20,
        "the checklist's acceptable backtest drawdown",
        0.001,
        1,
    ),
    _p("monitoring.drift_check_min", float, 60.0, "live vs backtest check interval", 1, 10080),
    _p("monitoring.drift_window_days", float, 90.0, "live history compared (days)", 1, 3650),
    _p("monitoring.drift_return_gap", float, 0.10, "annualized shortfall that alerts", 0.001, 10),
    _p(
        "monitoring.drift_slippage_margin_bps",
        float,
        2.0,
        "realized slippage above the assumption that alerts",
        0,
        1000,
    ),
    _p("monitoring.route_silent", list, [], "incident kinds posted without notifying"),
    _p("monitoring.route_off", list, [], "incident kinds kept out of Slack (journal and log)"),
    _p("monitoring.drawdown_halt_pct", float, 0.25, "REDUCING at this drawdown", 0.001, 1),
    _p(
        "monitoring.deadman_resume_needs_confirm",
        bool,
        False,
        "after a dead-man pause, resume only on an operator's confirmed resume",
    ),
    _p(
        "monitoring.kill_switch_file",
        str,
        "",
        "touch to kill; empty = <journal>.kill beside the journal (one per service)",
    ),
    _p(
        "monitoring.unknown_order_alert_sec",
        float,
        60.0,
        "an order whose outcome is unknown this long opens an order-unknown incident",
        0,
        86400,
    ),
    _p(
        "monitoring.cash_tolerance",
        float,
        1.0,
        "book vs broker cash difference ($) that opens the cash incident",
        0,
        1e9,
    ),
    _p("kill.timeout_sec", float, 30.0, "how long a kill waits for flat", 1, 3600),
    _p("kill.poll_sec", float, 0.5, "how often a kill polls positions", 0.01, 60),
    _p("confirm.set_ttl_sec", float, 300.0, "life of a set/reset/resume confirmation", 5, 86400),
    _p("confirm.kill_ttl_sec", float, 60.0, "life of a kill confirmation", 5, 3600),
    _p("journal.path", str, "", "SQLite journal; empty = one per venue and account in journal.dir"),
    _p("journal.dir", str, "data", "folder of the per-venue-and-account journals"),
    _p("journal.equity_every_sec", float, 60.0, "equity snapshot interval (market time)", 1, 86400),
    _p(
        "journal.retention_days",
        float,
        30.0,
        "equity snapshots and latency samples older than this fold into daily summaries",
        1,
        36500,
    ),
    _p(
        "journal.max_queue",
        int,
        100_000,
        "rows waiting to be written before latency samples are dropped (journal unhealthy)",
        1_000,
        10_000_000,
    ),
    # scaling out on NATS JetStream (README "Scaling out"); unused by `tradebot run`
    _p("cluster.nats_url", str, "nats://127.0.0.1:4222", "the NATS server every role connects to"),
    _p("cluster.partitions", int, 16, "bar partitions: PP = crc32(symbol) % this", 1, 100),
    _p("cluster.accounts", list, ["main"], "accounts, one order manager each"),
    _p(
        "cluster.strategies",
        list,
        ["MeanReversionV1:main"],
        "strategy:account pairs; a strategy's intents go to its account's order manager",
    ),
    _p("cluster.replicas", int, 1, "JetStream replicas per stream (3 in production)", 1, 5),
    _p("cluster.heartbeat_sec", float, 1.0, "how often each role says it is alive", 0.05, 60),
    _p("cluster.silent_after_sec", float, 5.0, "a role silent this long is an incident", 0.2, 600),
    _p("cluster.lease_ttl_sec", float, 10.0, "an order manager's lease lapses after this", 1, 600),
    _p(
        "cluster.ack_wait_sec",
        float,
        30.0,
        "an unacknowledged message is redelivered after",
        1,
        3600,
    ),
    _p(
        "cluster.duplicate_window_sec",
        float,
        3600.0,
        "JetStream drops a re-published message id within this window",
        1,
        86400,
    ),
    _p("cluster.store_dir", str, "data/nats", "`tradebot cluster`: the local server's store"),
    _p("cluster.tls_ca_file", str, "", "TLS to NATS: the CA of the server's certificate"),
    _p("cluster.tls_cert_file", str, "", "TLS to NATS: this role's client certificate"),
    _p("cluster.tls_key_file", str, "", "TLS to NATS: the client certificate's key"),
)
BY_PATH = {spec.path: spec for spec in PARAMS}
BY_SHORT = {spec.short: spec for spec in PARAMS if spec.short}


def find_param(name: str) -> ParamSpec:
    key = name.strip().lower()
    spec = BY_SHORT.get(key) or BY_PATH.get(key)
    if spec is not None:
        return spec
    settable = ", ".join(sorted(BY_SHORT))
    close = difflib.get_close_matches(key, [*BY_SHORT, *BY_PATH], n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ConfigError(f"unknown parameter '{name}'{hint}; settable: {settable}, or a risk.* path")


def parse_value(spec: ParamSpec, text: str) -> object:
    """Text from an operator or the journal -> a checked value; ConfigError otherwise."""
    name = spec.short or spec.path
    if spec.kind is bool:
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ConfigError(f"{name}: '{text}' is not true or false")
    if spec.kind in (int, float):
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"{name}: '{text}' is not a number") from None
        if spec.kind is int and not number.is_integer():
            raise ConfigError(f"{name}: '{text}' is not a whole number")
        return check_value(spec, int(number) if spec.kind is int else number, name)
    if spec.kind is list:
        return check_value(spec, [part.strip() for part in text.split(",") if part.strip()], name)
    return check_value(spec, text.strip(), name)


def check_value(spec: ParamSpec, value: object, label: str) -> object:
    """Type and range check; ints are accepted where floats are expected."""
    kind = spec.kind
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{label} = {value!r} should be {_kind_name(kind)}")
    bounded = spec.low is not None and spec.high is not None
    if isinstance(value, int | float) and bounded and not spec.low <= value <= spec.high:  # type: ignore[operator]
        raise ConfigError(f"{label} = {value:g} is out of range ({spec.low:g} .. {spec.high:g})")
    if spec.choices and value not in spec.choices:
        raise ConfigError(f"{label} = {value!r} is not one of {', '.join(spec.choices)}")
    return value


def _kind_name(kind: type) -> str:
    return {
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        list: "a list",
        str: "text",
    }[kind]
