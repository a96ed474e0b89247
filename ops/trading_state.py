"""The one owner of the trading state. Every transition (a person, a kill, the daily-loss limit,
the drawdown limit, the dead-man, a restart) comes through `change`, which journals who and why,
raises or resolves the `trading-state` incident, and is restored from the journal at start-up.
The risk gate only mirrors the state; nothing else writes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ops.journal import Journal
from strategy.risk import RiskGate
from strategy.types import TradingState

log = logging.getLogger(__name__)
INCIDENT = "trading-state"
RISK = "risk"  # who moves trading to REDUCING on a daily-loss or drawdown breach
_SEVERITY = {TradingState.REDUCING: "critical", TradingState.HALTED: "critical"}
_MEANING = {
    TradingState.ACTIVE: "entries and exits run",
    TradingState.PAUSED: "exits only, no new entries",
    TradingState.REDUCING: "exits only, entries refused until an operator resumes",
    TradingState.HALTED: "nothing trades but the kill's own flatten orders",
}

Alert = Callable[[str, str, str], None]  # key, severity, message
Resolve = Callable[[str, str], None]  # key, message


class TradingStateOwner:
    def __init__(self, gate: RiskGate, journal: Journal, alert: Alert, resolve: Resolve) -> None:
        self._gate = gate
        self._journal = journal
        self._alert = alert
        self._resolve = resolve
        self.changed_by = ""

    @property
    def state(self) -> TradingState:
        return self._gate.state

    @property
    def reason(self) -> str:
        return self._gate.state_reason

    def change(self, state: TradingState, reason: str, by: str) -> None:
        """Move to `state`. A REDUCING or HALTED state is an open incident until trading is
        ACTIVE again; PAUSED is not (a person asked for it, or the dead-man has its own)."""
        self._gate.set_state(state, reason)
        self.changed_by = by
        self._journal.record("state_changes", {"state": state.value, "reason": reason, "user": by})
        log.warning("trading %s by %s: %s", state, by, reason)
        message = f"trading {state}: {reason} ({_MEANING[state]})"
        if state in _SEVERITY:
            self._alert(INCIDENT, _SEVERITY[state], message)
        elif state is TradingState.ACTIVE:
            self._resolve(INCIDENT, message)

    def risk_breach(self, reason: str) -> None:
        """An automatic limit (daily loss, drawdown) was reached: stop entries, keep exits.
        A kill or a person's HALTED is never softened, and a repeat changes nothing."""
        if self.state in (TradingState.HALTED, TradingState.REDUCING):
            return
        self.change(TradingState.REDUCING, reason, RISK)

    async def restore(self) -> None:
        """The state at the last stop, without a new journal row (it is not a new decision)."""
        rows = await self._journal.aquery(
            "select state, reason, user from state_changes order by id desc limit 1"
        )
        if not rows or rows[0]["state"] == TradingState.ACTIVE.value:
            return
        state = TradingState(str(rows[0]["state"]))
        self._gate.set_state(state, f"restored from the journal: {rows[0]['reason']}")
        self.changed_by = str(rows[0]["user"])
        log.warning("trading state restored as %s (%s)", state, rows[0]["reason"])
