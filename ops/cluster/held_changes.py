"""What the order manager keeps of each change it holds for the gateway (its kind, whether a
set/reset applies to open positions, its backtest preview), and its own sweep of them: a change
whose time ran out is dropped there as the single service drops its own (audited "expired" in
the account's journal, its backtest stopped), whether or not a gateway is there to say so; a
confirm that comes after the sweep is refused as expired, not as unknown."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ops.cluster.served_previews import ServedPreviews
from ops.control.audited_core import AuditedCore
from ops.control.preview import Ticket
from ops.shared import messages
from ops.shared.results import ConfirmationExpired

log = logging.getLogger(__name__)
EXPIRY_SWEEP_SEC = 5.0  # as the single service's and the gateway's sweeps
REMEMBERED = 64  # swept changes whose late confirm is still told "expired"


@dataclass(frozen=True, slots=True)
class Held:
    kind: str
    apply_open: bool  # a set/reset's --open


class HeldChanges:
    def __init__(self, account: str, core: AuditedCore) -> None:
        self.core = core
        self.previews = ServedPreviews(account)  # the backtests of pending sets/resets
        self._held: dict[str, Held] = {}  # nonce of a change held for the gateway
        self._expired: dict[str, str] = {}  # the latest swept -> their kind, oldest first

    def hold(self, nonce: str, held: Held, ticket: Ticket | None) -> str | None:
        """Keep change `nonce`; the line to show while its preview is computed."""
        self._held[nonce] = held
        return self.previews.keep(nonce, ticket)

    def settle(self, nonce: str) -> Held | None:
        """Confirmed, cancelled or found expired: its backtest is no longer wanted."""
        self.previews.drop(nonce)
        return self._held.pop(nonce, None)

    def sweep(self) -> None:
        for nonce in self.core.expire():  # audited there
            held = self.settle(nonce)
            if held is not None:
                self._expired[nonce] = held.kind
        while len(self._expired) > REMEMBERED:
            del self._expired[next(iter(self._expired))]

    def refuse_if_swept(self, nonce: str, user: str, channel: str, surface: str) -> None:
        kind = self._expired.get(nonce)
        if kind is None:
            return
        error = messages.EXPIRED.format(kind=kind)
        self.core.audit(user, channel, surface, "confirm", "expired", error)
        raise ConfirmationExpired(error)

    async def sweep_every(self, period_sec: float) -> None:
        while True:
            try:
                self.sweep()
            except Exception:  # the next sweep tries again; never an ended task
                log.exception("sweeping the expired changes failed")
            await asyncio.sleep(period_sec)
