"""The gateway's side of the changes of one account (set, reset, adopt, cancel-order): each is
sent to the account's order manager, whose command core previews it, holds it behind its own
nonce and applies it; the gateway holds the Confirm of the operator's message (its own nonce,
expiry, four_eyes) and passes the click on. A confirmed `set`/`reset` is then awaited in the
heartbeats of the account's processes: "acknowledged by N of M", silent ones named.

A `set`/`reset`'s backtest preview, computed by the order manager's core on the sessions it
has, is asked for as soon as the change is held: a Ticket the surface takes to put the figures
into the confirmation when they come, as the single service's surfaces do."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from nats.aio.client import Client

from ops.cluster.acks import AckReport, await_acks
from ops.cluster.ask_account import (
    AccountDone,
    RemoteConfirm,
    ask_change,
    ask_preview,
    cancel_change,
    confirm_change,
)
from ops.cluster.commands import AccountRefused, AccountUnreachable
from ops.cluster.config import ClusterConfig
from ops.cluster.subjects import params_key
from ops.control.confirm import Confirmations
from ops.control.preview import BacktestPreview, Ticket
from ops.shared import messages
from ops.shared.results import CommandError, ConfirmRequest, Done
from strategy.clock import Clock

log = logging.getLogger(__name__)
PARAM_CHANGES = frozenset({"set", "reset"})


@dataclass(frozen=True, slots=True)
class ChangeOutcome:
    """A confirmed change as the account's order manager reported it, and, for a parameter
    change, who has applied it."""

    account: str
    by: str
    done: Done
    report: AckReport | None = None  # set/reset: the account's processes' acknowledgements
    unpublished: str | None = None  # set/reset applied by the order manager only: why


class GatewayChanges:
    def __init__(
        self,
        nc: Client,
        cfg: ClusterConfig,
        confirmations: Confirmations,
        clock: Clock,
        set_ttl_sec: float,
        within_sec: float,
        ack_within_sec: float,
        preview_within_sec: float,
    ) -> None:
        self.nc = nc
        self.cfg = cfg
        self.confirmations = confirmations
        self.clock = clock
        self.set_ttl_sec = set_ttl_sec
        self.within_sec = within_sec
        self.ack_within_sec = ack_within_sec
        self.preview_within_sec = preview_within_sec
        self._held: dict[str, RemoteConfirm] = {}  # the gateway's nonce -> the account's
        self._previews: dict[str, Ticket] = {}  # the gateway's nonce -> its preview, untaken

    def account_of(self, name: str, account: str | None) -> str:
        """The account named, or the only one configured."""
        if account is not None:
            return account
        if len(self.cfg.accounts) == 1:
            return self.cfg.accounts[0]
        raise CommandError(
            messages.CLUSTER_NAME_ACCOUNT.format(name=name, accounts=", ".join(self.cfg.accounts))
        )

    async def request(
        self, name: str, args: tuple[str, ...], account: str | None, user: str, channel: str
    ) -> ConfirmRequest | Done:
        """Ask the account's core; a change it holds behind a Confirm is held here too."""
        account = self.account_of(name, account)
        text = " ".join([name, *args])
        answer = await ask_change(self.nc, account, text, user, channel, self.within_sec)
        if isinstance(answer, AccountDone):
            return _prefixed(account, answer.done)
        if not isinstance(answer, RemoteConfirm):
            raise CommandError(_not_done(answer))
        return self._hold(answer, user, channel)

    def _hold(self, remote: RemoteConfirm, user: str, channel: str) -> ConfirmRequest:
        account = remote.account

        async def apply(confirmer: str) -> ChangeOutcome:
            self._held.pop(pending.nonce, None)
            self._drop_preview(pending.nonce)
            return await self._confirm(remote, confirmer, channel)

        pending = self.confirmations.open(remote.kind, user, channel, self.set_ttl_sec, apply)  # type: ignore[arg-type]
        self._held[pending.nonce] = remote
        if remote.preview is not None:
            task = asyncio.get_running_loop().create_task(
                self._preview(remote, user, channel), name=f"preview:{pending.nonce[:8]}"
            )
            self._previews[pending.nonce] = Ticket(remote.preview, task)
        lines = remote.lines
        if remote.kind in PARAM_CHANGES:
            lines += (messages.CLUSTER_CHANGE_REACHES.format(account=account),)
        return ConfirmRequest(
            pending.nonce,
            remote.kind,
            f"{account}: {remote.title}",
            lines,
            user,
            pending.expires_at,
        )

    def take_preview(self, nonce: str) -> Ticket | None:
        """The backtest preview of held change `nonce`, for the surface that shows it (once)."""
        return self._previews.pop(nonce, None)

    async def _preview(self, remote: RemoteConfirm, user: str, channel: str) -> BacktestPreview:
        """The order manager's preview when it is done, or why there is none (told in its place:
        the confirmation works either way)."""
        try:
            answer = await ask_preview(
                self.nc, remote.account, remote.nonce, user, channel, self.preview_within_sec
            )
        except Exception as exc:  # e.g. the connection closing
            answer = AccountRefused(remote.account, f"{type(exc).__name__}: {exc}")
        if isinstance(answer, BacktestPreview):
            return answer
        error = messages.PREVIEW_FAILED.format(error=f"{answer.account}: {answer.error}")
        return BacktestPreview(remote.kind, "", "", 0, problem=error)

    def _drop_preview(self, nonce: str) -> None:
        ticket = self._previews.pop(nonce, None)
        if ticket is not None:  # never taken by a surface: nobody waits for it
            ticket.task.cancel()

    async def withdraw(self, nonce: str, user: str, channel: str) -> None:
        """A change cancelled at the gateway is cancelled at the account too (audited there)."""
        self._drop_preview(nonce)
        remote = self._held.pop(nonce, None)
        if remote is None:
            return
        answer = await cancel_change(
            self.nc, remote.account, remote.nonce, user, channel, self.within_sec
        )
        if not isinstance(answer, AccountDone):  # it expires there unconfirmed
            log.warning("cancel of %s at %s not taken: %s", remote.kind, remote.account, answer)

    def forget(self, nonces: Iterable[str]) -> None:
        """Expired at the gateway: the account's own pending expires at the same time."""
        for nonce in nonces:
            self._held.pop(nonce, None)
            self._drop_preview(nonce)

    async def _confirm(self, remote: RemoteConfirm, confirmer: str, channel: str) -> ChangeOutcome:
        account = remote.account
        answer = await confirm_change(
            self.nc, account, remote.nonce, confirmer, channel, self.within_sec
        )
        if isinstance(answer, AccountUnreachable):
            raise CommandError(
                messages.CLUSTER_CHANGE_UNKNOWN.format(account=account, error=answer.error)
            )
        if isinstance(answer, AccountRefused):
            raise CommandError(_not_done(answer))
        report = None
        if answer.params_revision is not None:
            report = await await_acks(
                self.nc.jetstream(),
                self.cfg,
                params_key(account),
                answer.params_revision,
                self.ack_within_sec,
                self.clock,
            )
        return ChangeOutcome(account, confirmer, answer.done, report, answer.params_error)


def _prefixed(account: str, done: Done) -> Done:
    return Done(f"{account}: {done.title}", done.lines)


def _not_done(answer: AccountRefused | AccountUnreachable) -> str:
    if isinstance(answer, AccountRefused):
        return f"{answer.account}: {answer.error}"
    return f"{answer.account}: {answer.error}; nothing was changed"
