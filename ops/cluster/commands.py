"""An account's commands over NATS request-reply: the order manager answers on
`command_subject(account)` with its command core (here); the gateway asks every account
(ops.cluster.ask_account).

Request: {"command": "pnl week", "user": ..., "channel": ...}: the command line as the
account's core takes it, and who asked (the order manager audits it in its journal). Reply:
{"ok": true, "status": AccountStatus} for status, {"ok": true, "result": ...} (result_codec)
for the other read-only commands, or {"ok": false, "error": "..."} (a CommandError's sentence).

The changes of one account (set, reset, adopt, cancel-order) are served too, by the same core:
a change that asks to confirm replies {"ok": true, "confirm": {nonce, kind, title, lines,
expires_at}} (the core's preview and its pending action, held here); the gateway shows it and
sends {"confirm": nonce, "user", "channel"} when someone clicks Confirm (the core checks the
confirmer, four_eyes and expiry again) or {"cancel": nonce, ...}; a change done at once, or a
confirmed one, replies {"ok": true, "done": {title, lines}}, with "params_revision" when a
`set`/`reset` wrote the account's overrides to the params bucket. Kill, pause and resume reach
the accounts through the control bucket, never here.

A `set`/`reset` the core previews with a backtest (the sessions the order manager has) says so
in its confirm ("preview": the line to show meanwhile); {"preview": nonce} is answered when the
backtest is done, {"ok": true, "preview": BacktestPreview}, without holding up other requests.
A confirm or cancel that comes first stops it, and its request is refused. The order manager
sweeps its own expired changes (held_changes), stopping their backtests too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from ops.cluster.held_changes import EXPIRY_SWEEP_SEC, Held, HeldChanges
from ops.cluster.result_codec import QUERIES, QueryResult, encode_result
from ops.cluster.subjects import command_subject
from ops.control.commands import CommandCore
from ops.control.param_change import OPEN_FLAGS
from ops.control.parsing import parse_command
from ops.shared.results import CommandError, ConfirmationExpired, ConfirmRequest, Done, StatusResult

log = logging.getLogger(__name__)
CHANGES = frozenset({"set", "reset", "adopt", "cancel-order"})
SERVED = QUERIES | CHANGES | {"status"}
SURFACE = "cluster"
PARAM_CHANGES = frozenset({"set", "reset"})
# after a confirmed set/reset: write the account's overrides (confirmer, applies to open
# positions); the params bucket's revision
PublishParams = Callable[[str, bool], Awaitable[int]]


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


async def serve_commands(
    nc: Client, account: str, core: CommandCore, publish_params: PublishParams | None = None
) -> Subscription:
    """Answer the gateway's commands for `account` with `core` (each one audited in the
    account's journal like any other surface's); a confirmed set/reset is then written with
    `publish_params` for the account's other processes. Unsubscribe the result to stop; the
    expiry sweep is the core's task (it ends with the service)."""
    server = _Server(account, core, publish_params)
    core.spawn(f"confirm-expiry:{account}", server.held.sweep_every(EXPIRY_SWEEP_SEC))

    async def answer(msg: Msg) -> None:
        try:
            request = json.loads(msg.data)
            if "preview" in request:  # answered once ready: other requests go on meanwhile
                server.held.previews.answer(msg, str(request["preview"]))
                return
            reply = await server.run(request)
        except Exception as exc:  # never leave the gateway waiting for a timeout
            log.exception("cluster command failed")
            reply = {"ok": False, "error": f"{type(exc).__name__} in the order manager"}
        await msg.respond(json.dumps(reply).encode())

    return await nc.subscribe(command_subject(account), cb=answer)


class _Server:
    def __init__(self, account: str, core: CommandCore, publish: PublishParams | None) -> None:
        self.account = account
        self.core = core
        self.publish = publish
        self.held = HeldChanges(account, core)

    async def run(self, request: dict[str, object]) -> dict[str, object]:
        user, channel = str(request.get("user", "")), str(request.get("channel", ""))
        try:
            if "confirm" in request:
                return await self.confirm(str(request["confirm"]), user, channel)
            if "cancel" in request:
                nonce = str(request["cancel"])
                done = self.core.cancel(nonce, user, channel, SURFACE)
                self.held.settle(nonce)
                return {"ok": True, "done": _done(done)}
            return await self.command(str(request.get("command", "")), user, channel)
        except CommandError as exc:
            return {"ok": False, "error": str(exc)}

    async def command(self, text: str, user: str, channel: str) -> dict[str, object]:
        command = parse_command(text)
        if command.name not in SERVED:
            return {"ok": False, "error": f"{command.name!r} is not served over the cluster"}
        result = await self.core.handle(text, user, channel, SURFACE)
        if isinstance(result, StatusResult):
            return {"ok": True, "status": asdict(AccountStatus.of(self.account, result))}
        if isinstance(result, ConfirmRequest):
            opened = any(a.lower() in OPEN_FLAGS for a in command.args)
            held = Held(result.kind, opened and command.name in PARAM_CHANGES)
            preview = self.held.hold(result.nonce, held, self.core.previews.take(result.nonce))
            return {"ok": True, "confirm": _confirm(result, preview)}
        if isinstance(result, Done):
            return {"ok": True, "done": _done(result)}
        assert isinstance(result, QueryResult)  # SERVED holds the read-only commands
        return {"ok": True, "result": encode_result(result)}

    async def confirm(self, nonce: str, user: str, channel: str) -> dict[str, object]:
        self.held.refuse_if_swept(nonce, user, channel, SURFACE)
        try:
            pending = self.core.accept(nonce, user, channel, SURFACE)
        except ConfirmationExpired:
            self.held.settle(nonce)
            raise
        held = self.held.settle(nonce)  # decided: its backtest is no longer wanted
        apply_open = held is not None and held.apply_open
        result = await self.core.apply(pending, user, channel, SURFACE)
        assert isinstance(result, Done)  # every change's apply says what it did
        reply: dict[str, object] = {"ok": True, "done": _done(result)}
        if pending.kind in PARAM_CHANGES and self.publish is not None:
            try:
                reply["params_revision"] = await self.publish(user, apply_open)
            except Exception as exc:  # applied here; the workers could not be told
                log.exception("writing %s's parameters failed", self.account)
                reply["params_error"] = f"{type(exc).__name__}: {exc}"
        return reply


def _confirm(request: ConfirmRequest, preview: str | None) -> dict[str, object]:
    return {
        "nonce": request.nonce,
        "kind": request.kind,
        "title": request.title,
        "lines": list(request.lines),
        "expires_at": request.expires_at,
        "preview": preview,
    }


def _done(done: Done) -> dict[str, object]:
    return {"title": done.title, "lines": list(done.lines)}
