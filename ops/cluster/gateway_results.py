"""What the gateway's commands answer: the cluster's status, each account's answer to a
read-only command, a control order's outcome, and the gateway's help lines."""

from __future__ import annotations

from dataclasses import dataclass

from ops.cluster.acks import AckReport, Component
from ops.cluster.commands import (
    AccountAnswer,
    AccountRefused,
    AccountStatus,
    AccountUnreachable,
)
from ops.cluster.control_orders import ControlOrder
from ops.cluster.gateway_changes import ChangeOutcome
from ops.shared.results import ConfirmRequest, Done, HelpResult

HELP = (
    "status                 every account (state, equity, P&L, positions) and every process",
    "pnl [today|week|all]   each account's P&L, drawdown vs peak",
    "positions              each account's book beside its broker's positions",
    "reconcile              each account: compare book and broker now",
    "config                 each account's parameters, values and where they came from",
    "slippage               each account's realized slippage of fills (bps)",
    "checklist              each account's pre-deploy checklist",
    "... --account NAME     any of the above for one account only: `positions --account main`",
    "kill [account]         halt, cancel, flatten everywhere or in one account (asks to confirm)",
    "pause [account]        stop new entries everywhere or in one account",
    "resume [account]       lift kill and pause (asks to confirm)",
    "set <param> <value>    change a parameter of one account (--account NAME with several):",
    "                       its order manager and workers apply it (asks to confirm)",
    "reset <param>          back to config.yaml's value, the same way (asks to confirm)",
    "adopt <symbol>         one account's order manager takes the broker's position (confirm)",
    "cancel-order <id>      one account's order manager cancels that working order",
    "help                   this list",
    "add `here` at the end to answer in the channel; ack, resolve and test-alert are not sent",
    "through the gateway (see README: Scaling out)",
)
NOT_HERE = (
    "`{name}` is not sent through the gateway: it acts on one process's incidents "
    "(README: Scaling out)"
)


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    accounts: tuple[AccountStatus | AccountUnreachable, ...]
    components: tuple[Component, ...]
    silent: tuple[str, ...]
    orders: tuple[ControlOrder, ...]  # kill/pause entries in force
    now: float


@dataclass(frozen=True, slots=True)
class AccountAnswers:
    """A read-only command's answer from each account asked, in the configured order."""

    command: str  # the line the accounts ran, e.g. `pnl week`
    answers: tuple[AccountAnswer | AccountRefused | AccountUnreachable, ...]


@dataclass(frozen=True, slots=True)
class ControlOutcome:
    """A control order written, and who has acknowledged it."""

    verb: str  # kill, pause, resume
    scope: str  # global or the account
    by: str
    report: AckReport
    written_ns: int  # the core clock's monotonic time of the write: late acks count from it


GatewayResult = (
    ClusterStatus
    | AccountAnswers
    | ControlOutcome
    | ChangeOutcome
    | ConfirmRequest
    | Done
    | HelpResult
)
