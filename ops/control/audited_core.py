"""What every command core shares (the single process's and the cluster gateway's): each
command, confirmation click, cancel and expiry audited in a journal's commands table."""

from __future__ import annotations

from ops.control.confirm import Apply, Confirmations, Pending
from ops.control.parsing import MAX_COMMAND_CHARS
from ops.shared import messages
from ops.shared.formatting import echo
from ops.shared.results import CommandError, ConfirmationExpired, ConfirmRequest, Done
from strategy.recorder import Recorder


class AuditedCore:
    def __init__(self, confirmations: Confirmations, journal: Recorder) -> None:
        self.confirmations = confirmations
        self._audit_to = journal

    def ttl_sec(self, kind: str) -> float:
        """How long a confirmation of `kind` waits for its click."""
        raise NotImplementedError

    def _ask(
        self, kind: str, user: str, channel: str, title: str, lines: tuple[str, ...], apply: Apply
    ) -> ConfirmRequest:
        """Hold `apply` behind a Confirm (requester only, or another operator with four_eyes)
        and describe exactly what it will do."""
        pending = self.confirmations.open(kind, user, channel, self.ttl_sec(kind), apply)
        return ConfirmRequest(pending.nonce, kind, title, lines, user, pending.expires_at)

    def accept(self, nonce: str, user: str, channel: str, surface: str) -> Pending:
        """Take the pending action if `user` may confirm it now (audited either way). A surface
        changes its message only after this returns."""
        try:
            pending = self.confirmations.take(nonce, user)
        except CommandError as exc:
            outcome = "expired" if isinstance(exc, ConfirmationExpired) else "refused"
            self.audit(user, channel, surface, "confirm", outcome, str(exc))
            raise
        self.audit(user, channel, surface, f"confirm {pending.kind}", "ok", pending.requester)
        return pending

    def cancel(self, nonce: str, user: str, channel: str, surface: str) -> Done:
        try:
            pending = self.confirmations.cancel(nonce, user)
        except CommandError as exc:
            self.audit(user, channel, surface, "cancel", "refused", str(exc))
            raise
        self.audit(user, channel, surface, f"cancel {pending.kind}", "ok", pending.requester)
        return Done(messages.CANCELLED.format(user=user))

    def expire(self) -> list[str]:
        """Audit confirmations whose time ran out (called periodically); their nonces."""
        expired = self.confirmations.expire_due()
        for pending in expired:
            self.audit(pending.requester, pending.channel, "-", pending.kind, "expired", "")
        return [pending.nonce for pending in expired]

    def audit(
        self, user: str, channel: str, surface: str, command: str, outcome: str, detail: str
    ) -> None:
        self._audit_to.record(
            "commands",
            {
                "user": user,
                "channel": channel,
                "surface": surface,
                "command": echo(command, MAX_COMMAND_CHARS),  # a paste is not kept whole
                "outcome": outcome,
                "detail": detail,
            },
        )
