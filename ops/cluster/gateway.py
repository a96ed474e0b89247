"""The gateway's command core: `/trade` for the whole cluster, transport-independent.

status aggregates every account (asked over NATS request-reply) and every component (their
heartbeats, silent ones named); the read-only commands (pnl, positions, reconcile, config,
slippage, checklist) are asked of every account, or of one with `--account NAME`, and answered
by each account's own command core (audited in its journal); kill and resume ask to confirm,
then write the control bucket and wait for the acknowledgements; pause writes at once. The
changes of one account (set, reset, adopt, cancel-order) go to its order manager
(gateway_changes). Every command, refusal and click is audited in the gateway's journal, as the
single-process core does in its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from nats.aio.client import Client

from ops.cluster.acks import (
    await_acks,
    read_components,
    read_orders,
    silent_components,
)
from ops.cluster.ask_account import ask_query, ask_status
from ops.cluster.config import ClusterConfig
from ops.cluster.control_requests import (
    WrittenSince,
    read_revisions,
    request_kill,
    request_pause,
    request_resume,
)
from ops.cluster.gateway_changes import ChangeOutcome, GatewayChanges
from ops.cluster.gateway_results import (
    HELP,
    NOT_HERE,
    AccountAnswers,
    ClusterStatus,
    ControlOutcome,
    GatewayResult,
)
from ops.cluster.result_codec import QUERIES
from ops.cluster.subjects import kill_key, pause_key
from ops.control.audited_core import AuditedCore
from ops.control.confirm import Confirmations, Pending
from ops.control.parsing import ParsedCommand, parse_command
from ops.journal.journal import Journal
from ops.journal.pnl import PERIODS
from ops.shared import messages
from ops.shared.formatting import echo
from ops.shared.results import CommandError, HelpResult
from strategy.clock import Clock

CONTROL = frozenset({"kill", "pause", "resume"})
CHANGES = frozenset({"set", "reset", "adopt", "cancel-order"})
SERVED = QUERIES | CONTROL | CHANGES | {"status", "help"}
ACCOUNT_FLAG = "--account"


class GatewayCore(AuditedCore):
    def __init__(
        self,
        nc: Client,
        cfg: ClusterConfig,
        confirmations: Confirmations,
        journal: Journal,
        clock: Clock,
        kill_ttl_sec: float,
        ack_within_sec: float = 1.0,
        ask_within_sec: float = 2.0,
        query_within_sec: float = 5.0,  # pnl waits up to 2 s for its journal; positions, the broker
        set_ttl_sec: float = 300.0,
        preview_within_sec: float = 35.0,  # an order manager's preview gives up after 30 s
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.cfg = cfg
        super().__init__(confirmations, journal)
        self.journal = journal  # also the Slack threads of the cluster's incidents
        self.clock = clock
        self.kill_ttl_sec = kill_ttl_sec
        self.ack_within_sec = ack_within_sec
        self.ask_within_sec = ask_within_sec
        self.query_within_sec = query_within_sec
        self.changes = GatewayChanges(
            nc,
            cfg,
            confirmations,
            clock,
            set_ttl_sec,
            query_within_sec,
            ack_within_sec,
            preview_within_sec,
        )

    async def handle(self, text: str, user: str, channel: str, surface: str) -> GatewayResult:
        """Run one command line; CommandError means refused, nothing changed (audited)."""
        try:
            command, account = self.parse(text)
            result = await self._dispatch(command.name, command.args, account, user, channel)
        except CommandError as exc:
            self.audit(user, channel, surface, text, "refused", str(exc))
            raise
        self.audit(user, channel, surface, text, "ok", type(result).__name__)
        return result

    def parse(self, text: str) -> tuple[ParsedCommand, str | None]:
        """The command without `--account NAME`, and that account (None: every account).
        Refused: a command the gateway does not send, an account not configured."""
        command = parse_command(text)
        if command.name not in SERVED:
            raise CommandError(NOT_HERE.format(name=command.name))
        args = list(command.args)
        if ACCOUNT_FLAG not in args:
            return command, None
        at = args.index(ACCOUNT_FLAG)
        named = args[at + 1 : at + 2]
        del args[at : at + 2]
        if not named or named[0] not in self.cfg.accounts:
            raise CommandError(self._name_one(named[0] if named else None))
        return ParsedCommand(command.name, tuple(args), command.here), named[0]

    def _name_one(self, wrong: str | None) -> str:
        head = f"no account {wrong!r}" if wrong else f"{ACCOUNT_FLAG} needs an account"
        return f"{head}: name one of {', '.join(self.cfg.accounts)} (or none: all of them)"

    async def _dispatch(
        self, name: str, args: tuple[str, ...], account: str | None, user: str, channel: str
    ) -> GatewayResult:
        if name == "help":
            return HelpResult(HELP)
        if name in CHANGES:
            return await self.changes.request(name, args, account, user, channel)
        if name in QUERIES or name == "status":
            usable = 1 if name == "pnl" else 0
            if len(args) > usable:
                extra = echo(" ".join(args[usable:]))
                raise CommandError(messages.EXTRA_ARGS.format(extra=extra, usage=_usage(name)))
            if args and args[0].lower() not in PERIODS:
                raise CommandError(messages.BAD_PERIOD.format(period=args[0]))
            if name == "status":
                return await self.status(user, channel, account)
            return await self.query(" ".join([name, *args]), account, user, channel)
        if args:
            if account is not None:
                raise CommandError(self._name_one(None) + "; name it once")
            account = self._account(args)
        scope = account or "every account"
        if name == "pause":
            written_ns = self.clock.monotonic_ns()
            await request_pause(self.js, self.cfg, account, user, "paused from Slack", self.clock)
            return await self._outcome("pause", account, user, written_ns)
        if name == "kill":
            return self._ask(
                "kill",
                user,
                channel,
                f"KILL {scope}: halt, cancel all orders, flatten every position",
                (
                    f"writes {'kill.' + (account or 'global')}: every order manager in scope "
                    "halts, cancels, closes and verifies flat; workers stop deciding",
                    "the thread shows who acknowledged it and names the silent processes",
                ),
                lambda confirmer: self._kill(account, confirmer),
            )
        keys = (kill_key(account), pause_key(account))
        shown = await read_revisions(self.js, self.cfg, keys)
        in_force = [o for o in await read_orders(self.js, self.cfg) if o.active and o.key in keys]
        now = ", ".join(f"{o.key} by {o.requester} (revision {o.revision})" for o in in_force)
        return self._ask(
            "resume",
            user,
            channel,
            f"resume {scope}: lift the kill and the pause",
            (
                f"in force now: {now or 'nothing in this scope'}",
                "a pause the control plane made is lifted at once",
                "an order manager a control-plane kill HALTED resumes once its kill has ended "
                "(with a kill file present it stays HALTED and does not acknowledge)",
                "refused if a kill or a pause of this scope is written before you confirm",
            ),
            lambda confirmer: self._resume(account, confirmer, shown),
        )

    def _account(self, args: tuple[str, ...]) -> str:
        if len(args) > 1 or args[0] not in self.cfg.accounts:
            raise CommandError(self._name_one(" ".join(args)))
        return args[0]

    def ttl_sec(self, kind: str) -> float:
        return self.kill_ttl_sec  # kill and resume: the only confirmations held here

    async def _kill(self, account: str | None, by: str) -> ControlOutcome:
        written_ns = self.clock.monotonic_ns()
        await request_kill(self.js, self.cfg, account, by, "killed from Slack", self.clock)
        return await self._outcome("kill", account, by, written_ns)

    async def _resume(
        self, account: str | None, by: str, shown: Mapping[str, int]
    ) -> ControlOutcome:
        """The resume record, bound to the revisions its confirmation showed."""
        written_ns = self.clock.monotonic_ns()
        try:
            await request_resume(
                self.js, self.cfg, account, by, "resumed from Slack", shown, self.clock
            )
        except WrittenSince as exc:
            raise CommandError(
                messages.RESUME_WRITTEN_SINCE.format(
                    key=exc.key, shown=exc.shown, now=exc.now, written=exc.written
                )
            ) from exc
        return await self._outcome("resume", account, by, written_ns)

    async def _outcome(
        self, verb: str, account: str | None, by: str, written_ns: int
    ) -> ControlOutcome:
        key = f"{'pause' if verb == 'pause' else 'kill'}.{account or 'global'}"
        orders = {o.key: o for o in await read_orders(self.js, self.cfg)}
        report = await await_acks(
            self.js,
            self.cfg,
            key,
            orders[key].revision,
            self.ack_within_sec,
            self.clock,
            written_ns,
        )
        return ControlOutcome(verb, account or "global", by, report, written_ns)

    def _scope(self, account: str | None) -> tuple[str, ...]:
        return tuple(self.cfg.accounts) if account is None else (account,)

    async def query(
        self, text: str, account: str | None, user: str, channel: str
    ) -> AccountAnswers:
        """A read-only command line asked of every account in scope at once."""
        asked = [
            ask_query(self.nc, name, text, user, channel, self.query_within_sec)
            for name in self._scope(account)
        ]
        return AccountAnswers(text, tuple(await asyncio.gather(*asked)))

    async def status(self, user: str, channel: str, account: str | None = None) -> ClusterStatus:
        asked = [
            ask_status(self.nc, name, user, channel, self.ask_within_sec)
            for name in self._scope(account)
        ]
        accounts = await asyncio.gather(*asked)
        components = await read_components(self.js, self.cfg)
        now = self.clock.now()
        silent = silent_components(components, now, self.cfg.silent_after_sec)
        orders = [o for o in await read_orders(self.js, self.cfg) if o.active]
        return ClusterStatus(
            tuple(accounts), tuple(components), tuple(c.key for c in silent), tuple(orders), now
        )

    # -- confirmations (accept, cancel, expire and audit: AuditedCore, as the single process) -

    async def withdraw(self, nonce: str, channel: str, surface: str, reason: str) -> None:
        """A confirmation nobody could see (Slack would not post it) is dropped, audited, and
        an account's change held behind it is cancelled there too: nothing waits unseen."""
        pending = self.confirmations.withdraw(nonce)
        if pending is None:
            return
        self.audit(pending.requester, channel, surface, pending.kind, "withdrawn", reason)
        await self.changes.withdraw(nonce, pending.requester, channel)

    async def withdraw_held(self, nonce: str, user: str, channel: str) -> None:
        """After a Cancel: an account's change held behind this nonce is cancelled there too."""
        await self.changes.withdraw(nonce, user, channel)

    def expire(self) -> list[str]:
        nonces = super().expire()
        self.changes.forget(nonces)
        return nonces

    async def apply(
        self, pending: Pending, user: str, channel: str, surface: str
    ) -> ControlOutcome | ChangeOutcome:
        """Run an accepted action; a refusal at this point (the account's core refused the
        confirmer, the value moved meanwhile, or the control key was written since) is
        audited too."""
        try:
            result = await pending.apply(user)
        except CommandError as exc:
            self.audit(user, channel, surface, f"apply {pending.kind}", "refused", str(exc))
            raise
        assert isinstance(result, ControlOutcome | ChangeOutcome)
        return result


def _usage(name: str) -> str:
    return next(line for line in HELP if line.startswith(name + " "))
