"""An account's commands over NATS request-reply: the order manager answers on
`command_subject(account)` with its command core; the gateway asks every account.

Request: {"command": "pnl week", "user": ..., "channel": ...}: the command line as the
account's core takes it, and who asked (the order manager audits it in its journal). Reply:
{"ok": true, "status": AccountStatus} for status, {"ok": true, "result": ...} (result_codec)
for the other read-only commands, or {"ok": false, "error": "..."} (a CommandError's sentence).
Only read-only commands are served: changes reach the accounts through the control bucket,
never here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from ops.cluster.result_codec import QUERIES, QueryResult, decode_result, encode_result
from ops.cluster.subjects import command_subject
from ops.commands import CommandCore
from ops.parsing import parse_command
from ops.results import CommandError, StatusResult

log = logging.getLogger(__name__)
SERVED = QUERIES | {"status"}
SURFACE = "cluster"


@dataclass(frozen=True, slots=True)
class AccountPosition:
    symbol: str
    qty: int
    avg_price: float
    unrealized: float


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """What the gateway shows of one account (a StatusResult, cut to what crosses the wire)."""

    account: str
    state: str
    state_reason: str
    equity: float
    day_pnl: float
    realized: float
    unrealized: float
    drawdown: float
    positions: tuple[AccountPosition, ...]
    working_orders: int
    orders_today: int
    fills: int
    last_bar_age_sec: float | None
    open_incidents: tuple[str, ...]

    @classmethod
    def of(cls, account: str, r: StatusResult) -> AccountStatus:
        return cls(
            account=account,
            state=str(r.state),
            state_reason=r.state_reason,
            equity=r.equity,
            day_pnl=r.day_pnl,
            realized=r.realized,
            unrealized=r.unrealized,
            drawdown=r.drawdown,
            positions=tuple(
                AccountPosition(p.symbol, p.qty, p.avg_price, p.unrealized) for p in r.positions
            ),
            working_orders=r.working_orders,
            orders_today=r.orders_today,
            fills=r.fills,
            last_bar_age_sec=r.last_bar_age_sec,
            open_incidents=r.open_incidents,
        )

    @classmethod
    def from_json(cls, body: dict[str, object]) -> AccountStatus:
        raw = dict(body)
        positions = raw.pop("positions")
        incidents = raw.pop("open_incidents")
        assert isinstance(positions, list) and isinstance(incidents, list)
        return cls(
            positions=tuple(AccountPosition(**p) for p in positions),
            open_incidents=tuple(str(i) for i in incidents),
            **raw,  # type: ignore[arg-type]
        )


@dataclass(frozen=True, slots=True)
class AccountUnreachable:
    """No answer from an account's order manager (none running, or too slow)."""

    account: str
    error: str


@dataclass(frozen=True, slots=True)
class AccountAnswer:
    """One account's answer to a read-only command, as its command core returned it."""

    account: str
    result: QueryResult


@dataclass(frozen=True, slots=True)
class AccountRefused:
    """The account's command core refused the command (its sentence)."""

    account: str
    error: str


async def serve_commands(nc: Client, account: str, core: CommandCore) -> Subscription:
    """Answer the gateway's read-only commands for `account` with `core` (each one audited in
    the account's journal like any other surface's). Unsubscribe the result to stop."""

    async def answer(msg: Msg) -> None:
        try:
            reply = await _run(core, account, msg.data)
        except Exception as exc:  # never leave the gateway waiting for a timeout
            log.exception("cluster command failed")
            reply = {"ok": False, "error": f"{type(exc).__name__} in the order manager"}
        await msg.respond(json.dumps(reply).encode())

    return await nc.subscribe(command_subject(account), cb=answer)


async def _run(core: CommandCore, account: str, data: bytes) -> dict[str, object]:
    request = json.loads(data)
    text = str(request.get("command", ""))
    try:
        name = parse_command(text).name
        if name not in SERVED:
            return {"ok": False, "error": f"{name!r} is not served over the cluster"}
        result = await core.handle(
            text, str(request.get("user", "")), str(request.get("channel", "")), SURFACE
        )
    except CommandError as exc:
        return {"ok": False, "error": str(exc)}
    if isinstance(result, StatusResult):
        return {"ok": True, "status": asdict(AccountStatus.of(account, result))}
    assert isinstance(result, QueryResult)  # SERVED holds read-only commands only
    return {"ok": True, "result": encode_result(result)}


async def _ask(
    nc: Client, account: str, text: str, user: str, channel: str, within_sec: float
) -> dict[str, object] | AccountUnreachable:
    """The account's reply, or why there is none."""
    request = json.dumps({"command": text, "user": user, "channel": channel}).encode()
    try:
        msg = await nc.request(command_subject(account), request, timeout=within_sec)
    except NoRespondersError:
        return AccountUnreachable(account, "no order manager is answering")
    except NatsTimeoutError:
        return AccountUnreachable(account, f"no answer within {within_sec:g} s")
    reply = json.loads(msg.data)
    assert isinstance(reply, dict)
    return reply


async def ask_status(
    nc: Client, account: str, user: str, channel: str, within_sec: float
) -> AccountStatus | AccountUnreachable:
    """One account's status from its order manager, or why there is none."""
    reply = await _ask(nc, account, "status", user, channel, within_sec)
    if isinstance(reply, AccountUnreachable):
        return reply
    if not reply.get("ok"):
        return AccountUnreachable(account, str(reply.get("error", "refused")))
    return AccountStatus.from_json(reply["status"])  # type: ignore[arg-type]


async def ask_query(
    nc: Client, account: str, text: str, user: str, channel: str, within_sec: float
) -> AccountAnswer | AccountRefused | AccountUnreachable:
    """One account's answer to a read-only command line (`pnl week`), refusal, or silence."""
    reply = await _ask(nc, account, text, user, channel, within_sec)
    if isinstance(reply, AccountUnreachable):
        return reply
    if not reply.get("ok"):
        return AccountRefused(account, str(reply.get("error", "refused")))
    return AccountAnswer(account, decode_result(reply["result"]))  # type: ignore[arg-type]
