"""Pending actions that need a Confirm: server-side nonces that expire and work once."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ops.shared import messages
from ops.shared.results import CommandError, ConfirmationExpired, Result

Apply = Callable[[str], Awaitable[Result]]  # called with the confirming user


@dataclass(frozen=True, slots=True)
class Pending:
    nonce: str
    kind: str
    requester: str
    channel: str
    created_at: float
    expires_at: float
    apply: Apply


def may_confirm(pending: Pending, user: str, four_eyes: bool) -> str | None:
    """None when `user` may confirm; otherwise the reason they may not."""
    if four_eyes and user == pending.requester:
        return messages.FOUR_EYES
    if not four_eyes and user != pending.requester:
        return messages.NOT_REQUESTER.format(requester=pending.requester)
    return None


def may_cancel(pending: Pending, user: str, four_eyes: bool) -> str | None:
    """Cancel follows Confirm: the requester, or whoever may confirm (with four_eyes, another
    operator; that the user is an operator at all is the surface's authorization)."""
    if user == pending.requester:
        return None
    return may_confirm(pending, user, four_eyes)


class Confirmations:
    def __init__(self, now: Callable[[], float], four_eyes: bool = False) -> None:
        self._now = now
        self.four_eyes = four_eyes
        self._pending: dict[str, Pending] = {}

    def open(self, kind: str, requester: str, channel: str, ttl: float, apply: Apply) -> Pending:
        now = self._now()
        pending = Pending(
            nonce=secrets.token_urlsafe(16),
            kind=kind,
            requester=requester,
            channel=channel,
            created_at=now,
            expires_at=now + ttl,
            apply=apply,
        )
        self._pending[pending.nonce] = pending
        return pending

    def take(self, nonce: str, user: str) -> Pending:
        """Remove and return the pending action if `user` may confirm it now."""
        pending = self._pending.get(nonce)
        if pending is None:
            raise CommandError(messages.NO_LONGER_VALID)
        if self._now() >= pending.expires_at:
            del self._pending[nonce]
            raise ConfirmationExpired(messages.EXPIRED.format(kind=pending.kind))
        refusal = may_confirm(pending, user, self.four_eyes)
        if refusal is not None:
            raise CommandError(refusal)
        del self._pending[nonce]
        return pending

    def cancel(self, nonce: str, user: str) -> Pending:
        """Remove and return the pending action if `user` may cancel it (see `may_cancel`)."""
        pending = self._pending.get(nonce)
        if pending is None:
            raise CommandError(messages.NO_LONGER_VALID)
        refusal = may_cancel(pending, user, self.four_eyes)
        if refusal is not None:
            raise CommandError(refusal)
        del self._pending[nonce]
        return pending

    def withdraw(self, nonce: str) -> Pending | None:
        """Drop a pending action nobody can see (its message could not be posted)."""
        return self._pending.pop(nonce, None)

    def expire_due(self) -> list[Pending]:
        """Drop and return actions whose time ran out, so they can be audited."""
        now = self._now()
        due = [p for p in self._pending.values() if now >= p.expires_at]
        for pending in due:
            del self._pending[pending.nonce]
        return due
