"""The one owner of the trading state. Every transition (a person, a kill, the daily-loss limit,
the drawdown limit, the dead-man, a restart) comes through `change`, which journals who and why,
raises or resolves the `trading-state` incident, and is restored from the journal at start-up.
The risk gate only mirrors the state; nothing else writes it.

A change someone is told of is on disk first: the gate takes it at once, the journal row is
written and synced by the journal's writer, and only then is the incident raised; whoever
replies to a person (a command, a kill, `tradebot resume`) awaits `on_disk` before replying, so
a crash right after the reply cannot bring a restart back in an older state.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Protocol

from ops.journal.journal import Journal
from strategy.risk import RiskGate
from strategy.types import TradingState

log = logging.getLogger(__name__)
INCIDENT = "trading-state"
RISK = "risk"  # who moves trading to REDUCING on a daily-loss or drawdown breach
DEADMAN_BY = "monitor"  # who pauses entries while the feed or the broker is down (the dead-man)
_SEVERITY = {TradingState.REDUCING: "critical", TradingState.HALTED: "critical"}
_MEANING = {
    TradingState.ACTIVE: "entries and exits run",
    TradingState.PAUSED: "exits only, no new entries",
    TradingState.REDUCING: "exits only, entries refused until an operator resumes",
    TradingState.HALTED: "nothing trades but the kill's own flatten orders",
}

WRITE_WAIT_SEC = 5.0  # at most this long a change waits for the disk before it is told anyway

Alert = Callable[[str, str, str], None]  # key, severity, message
Resolve = Callable[[str, str], None]  # key, message


class StateControl(Protocol):
    """What obeying orders from outside (the cluster's control plane) needs of the trading
    state (TradingStateOwner): read it, change it through its owner, wait until on disk."""

    @property
    def state(self) -> TradingState: ...

    @property
    def reason(self) -> str: ...

    def change(self, state: TradingState, reason: str, by: str) -> None: ...

    async def on_disk(self) -> bool: ...


class TradingStateOwner:
    def __init__(self, gate: RiskGate, journal: Journal, alert: Alert, resolve: Resolve) -> None:
        self._gate = gate
        self._journal = journal
        self._alert = alert
        self._resolve = resolve
        self.changed_by = ""
        self.changes = 0  # transitions in this run: a caller compares it to know one happened
        self._written: asyncio.Future[bool] | None = None  # the latest change's journal row

    @property
    def state(self) -> TradingState:
        return self._gate.state

    @property
    def reason(self) -> str:
        return self._gate.state_reason

    @property
    def paused_by_deadman(self) -> bool:
        """PAUSED by the dead-man, the only pause it may lift. An operator who pauses over it
        takes it (a new PAUSED by that person); it is theirs from then on."""
        return self.state is TradingState.PAUSED and self.changed_by == DEADMAN_BY

    def change(self, state: TradingState, reason: str, by: str) -> None:
        """Move to `state`. A REDUCING or HALTED state is an open incident until trading is
        ACTIVE again; PAUSED is not (a person asked for it, or the dead-man has its own)."""
        self._gate.set_state(state, reason)
        self.changed_by = by
        self.changes += 1
        log.warning("trading %s by %s: %s", state, by, reason)
        row = {"state": state.value, "reason": reason, "user": by}
        message = f"trading {state}: {reason} ({_MEANING[state]})"
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # called outside the event loop: nothing to wait on
            self._journal.record("state_changes", row)
            self._tell(state, message)
            return
        self._written = self._journal.record_durably("state_changes", row)
        _once_on_disk(self._written, lambda: self._tell(state, message))

    async def on_disk(self) -> bool:
        """Until the latest change is on disk (at most WRITE_WAIT_SEC); False, and said in the
        log, when the journal did not write it by then."""
        written = self._written
        if written is None:
            return True
        try:
            ok = await asyncio.wait_for(asyncio.shield(written), WRITE_WAIT_SEC)
        except TimeoutError:
            ok = False
        if not ok:
            log.error("trading %s is not in the journal yet (see the journal's health)", self.state)
        return ok

    def _tell(self, state: TradingState, message: str) -> None:
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


def recorded_state(journal: Path) -> TradingState | None:
    """The state the journal at `journal` holds, which a start restores (for a command that
    starts no service, such as `tradebot kill --clear`); None without a journal or a change."""
    if not journal.exists():
        return None
    try:
        with closing(sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True)) as db:
            row = db.execute("select state from state_changes order by id desc limit 1").fetchone()
    except sqlite3.Error:  # no state_changes table (yet), or not a journal
        return None
    return None if row is None else TradingState(str(row[0]))


def _once_on_disk(written: asyncio.Future[bool], tell: Callable[[], None]) -> None:
    """`tell` once the row is on disk, or after WRITE_WAIT_SEC if the journal is stuck (the
    incident must not wait forever on a journal that has its own)."""
    told = False

    def once(*_: object) -> None:
        nonlocal told
        if not told:
            told = True
            late.cancel()
            tell()

    late = asyncio.get_running_loop().call_later(WRITE_WAIT_SEC, once)
    written.add_done_callback(once)
