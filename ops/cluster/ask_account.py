"""The gateway's side of an account's commands (ops.cluster.commands has the order manager's):
a command line, a change, its confirm, cancel or preview sent to the account's order manager
over NATS request-reply, and the reply read as an answer, a refusal or why there is none."""

from __future__ import annotations

import json
from dataclasses import dataclass

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from ops.cluster.commands import (
    AccountAnswer,
    AccountRefused,
    AccountStatus,
    AccountUnreachable,
)
from ops.cluster.result_codec import decode_result
from ops.cluster.served_previews import preview_of
from ops.cluster.subjects import command_subject
from ops.control.preview import BacktestPreview
from ops.shared.results import Done


async def _ask(
    nc: Client, account: str, text: str, user: str, channel: str, within_sec: float
) -> dict[str, object] | AccountUnreachable:
    """The account's reply, or why there is none."""
    return await _request(nc, account, {"command": text}, user, channel, within_sec)


async def _request(
    nc: Client,
    account: str,
    body: dict[str, object],
    user: str,
    channel: str,
    within_sec: float,
) -> dict[str, object] | AccountUnreachable:
    request = json.dumps({**body, "user": user, "channel": channel}).encode()
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


@dataclass(frozen=True, slots=True)
class RemoteConfirm:
    """A change the account's core holds behind its own nonce, with its preview."""

    account: str
    nonce: str
    kind: str
    title: str
    lines: tuple[str, ...]
    expires_at: float
    preview: str | None = None  # what to show while its backtest preview is computed


@dataclass(frozen=True, slots=True)
class AccountDone:
    """A change the account's order manager made; `params_revision` when it wrote the
    account's overrides (what the other processes acknowledge), `params_error` when it could
    not."""

    account: str
    done: Done
    params_revision: int | None = None
    params_error: str | None = None


async def ask_change(
    nc: Client, account: str, text: str, user: str, channel: str, within_sec: float
) -> RemoteConfirm | AccountDone | AccountRefused | AccountUnreachable:
    """A change command line (`set entry_z 2.2`) to the account's core: its preview to
    confirm, what it did at once, its refusal, or silence."""
    reply = await _ask(nc, account, text, user, channel, within_sec)
    if isinstance(reply, AccountUnreachable):
        return reply
    if not reply.get("ok"):
        return AccountRefused(account, str(reply.get("error", "refused")))
    if "confirm" in reply:
        c = reply["confirm"]
        assert isinstance(c, dict)
        return RemoteConfirm(
            account,
            str(c["nonce"]),
            str(c["kind"]),
            str(c["title"]),
            tuple(str(line) for line in c["lines"]),
            float(c["expires_at"]),
            str(c["preview"]) if c.get("preview") is not None else None,
        )
    return _account_done(account, reply)


async def ask_preview(
    nc: Client, account: str, nonce: str, user: str, channel: str, within_sec: float
) -> BacktestPreview | AccountRefused | AccountUnreachable:
    """The backtest preview of the account's pending change `nonce`, once it is done."""
    reply = await _request(nc, account, {"preview": nonce}, user, channel, within_sec)
    if isinstance(reply, AccountUnreachable):
        return reply
    if not reply.get("ok"):
        return AccountRefused(account, str(reply.get("error", "refused")))
    body = reply["preview"]
    assert isinstance(body, dict)
    return preview_of(body)


async def confirm_change(
    nc: Client, account: str, nonce: str, user: str, channel: str, within_sec: float
) -> AccountDone | AccountRefused | AccountUnreachable:
    """Confirm the account's pending change as `user` (the account's core checks them too)."""
    return await _settle_change(nc, account, {"confirm": nonce}, user, channel, within_sec)


async def cancel_change(
    nc: Client, account: str, nonce: str, user: str, channel: str, within_sec: float
) -> AccountDone | AccountRefused | AccountUnreachable:
    return await _settle_change(nc, account, {"cancel": nonce}, user, channel, within_sec)


async def _settle_change(
    nc: Client,
    account: str,
    ask: dict[str, object],
    user: str,
    channel: str,
    within_sec: float,
) -> AccountDone | AccountRefused | AccountUnreachable:
    reply = await _request(nc, account, ask, user, channel, within_sec)
    if isinstance(reply, AccountUnreachable):
        return reply
    if not reply.get("ok"):
        return AccountRefused(account, str(reply.get("error", "refused")))
    return _account_done(account, reply)


def _account_done(account: str, reply: dict[str, object]) -> AccountDone:
    done = reply["done"]
    assert isinstance(done, dict)
    revision = reply.get("params_revision")
    error = reply.get("params_error")
    return AccountDone(
        account,
        Done(str(done["title"]), tuple(str(line) for line in done["lines"])),
        int(revision) if isinstance(revision, int) else None,
        str(error) if error is not None else None,
    )
