"""How an order manager obeys the control plane: a kill or pause in force halts or pauses its
account (acknowledged once on disk); only a resume record of the key that made it lifts it; a
key deleted, purged or unreadable keeps it, as an incident; and a resume by another route
(`tradebot resume`) is vetoed while the control plane holds the account."""

from __future__ import annotations

import logging
import re

from ops.cluster.control import ControlView
from ops.cluster.control_orders import ControlOrder
from ops.safety.kill_switch import KillSwitch
from ops.safety.trading_state import StateControl
from ops.service.incidents import IncidentReporter
from ops.shared import messages
from strategy.types import TradingState

log = logging.getLogger(__name__)
CONTROL = "control plane"
FROM_CONTROL = "(from the control plane)"  # ends the reason of a HALT or pause it made


class ControlObedience:
    def __init__(
        self, trading: StateControl, kill_switch: KillSwitch, incidents: IncidentReporter
    ) -> None:
        self._trading = trading
        self._kill_switch = kill_switch
        self._incidents = incidents
        self._view = ControlView()  # the control plane's orders, as last obeyed
        kill_switch.resume_veto = self._veto_resume

    async def obey(self, view: ControlView) -> bool:
        """The control plane's orders in force for this account; True once applied (the caller
        acknowledges them). A kill takes the service's kill path: HALTED at once, then cancel,
        flatten, verify flat. A kill ends only by a resume record of the key that made the
        HALT: then, once any kill running has ended, it resumes through the kill switch's
        resume path, only a HALT a control-plane kill made (not the kill file's, not a
        person's); refused there (the kill file exists), it stays HALTED and unacknowledged.
        A pause moves ACTIVE to PAUSED; only a resume record of its key moves back, and only a
        pause the control plane made. A key deleted or unreadable ends neither: an incident."""
        trading, kill_switch = self._trading, self._kill_switch
        self._view = view
        self._report_kept(view)
        killed, paused = view.killed, view.paused
        if killed is not None:
            if trading.state is not TradingState.HALTED:
                reason = f"kill by {killed.requester} via {killed.key} {FROM_CONTROL}"
                kill_switch.request(killed.requester, CONTROL, reason=reason)
            await trading.on_disk()  # acknowledged once the HALT survives a crash
            return True
        if self._by_control(TradingState.HALTED):
            lift = self._lift(view, "kill")
            if lift is None:
                return True
            await kill_switch.settled()
            result = await kill_switch.resume(lift.requester, CONTROL)
            if trading.state is TradingState.HALTED:
                log.warning("kill lifted by %s, not resumed: %s", lift.requester, result)
                return False
        state = trading.state
        if paused is not None and state is TradingState.ACTIVE:
            reason = f"paused by {paused.requester} via {paused.key} {FROM_CONTROL}"
            trading.change(TradingState.PAUSED, reason, paused.requester)
        elif paused is None and self._by_control(TradingState.PAUSED):
            lift = self._lift(view, "pause")
            if lift is not None:
                trading.change(TradingState.ACTIVE, f"pause withdrawn by {lift.requester}", CONTROL)
        await trading.on_disk()
        return True

    def _veto_resume(self, via: str) -> str | None:
        """A resume by another route (`tradebot resume`) while the control plane holds a kill
        or a pause of this account, or made this HALT or pause: only its resume ends them."""
        if via == CONTROL:
            return None
        view, trading = self._view, self._trading
        held = view.killed or view.paused
        if held is not None:
            what = f"{held.key} by {held.requester} is in force on the control plane"
        elif trading.reason.endswith(FROM_CONTROL):
            what = f"{trading.state} by the control plane ({trading.reason})"
        else:
            return None
        return messages.CONTROL_HOLDS.format(what=what)

    def _by_control(self, state: TradingState) -> bool:
        """In `state` by a control-plane order, in this process or restored from the journal."""
        trading = self._trading
        return trading.state is state and trading.reason.endswith(FROM_CONTROL)

    def _lift(self, view: ControlView, kind: str) -> ControlOrder | None:
        """The resume record that ends the kill or pause in force, or None (an incident: a
        key deleted while no process watched ends nothing either)."""
        made_by = _order_key(self._trading.reason)
        lift = view.lift(made_by, kind)
        key = f"control:{made_by or kind}"
        if lift is None:
            state = self._trading.state
            why = messages.CONTROL_NO_RESUME.format(key=made_by or f"{kind}.*", state=state)
            self._incidents.alert(key, "critical", why)
        else:
            self._incidents.resolve(key, f"{lift.key} resumed by {lift.requester}: {lift.reason}")
        return lift

    def _report_kept(self, view: ControlView) -> None:
        """An incident per order kept in force though its key went; closed by a record."""
        for order in view.orders:
            key = f"control:{order.key}"
            if not order.kept:
                self._incidents.resolve(key, f"{order.key} holds a record again: {order.reason}")
                continue
            self._incidents.alert(
                key,
                "critical",
                messages.CONTROL_KEPT.format(
                    key=order.key, what=order.kept, kind=order.kind, by=order.requester
                ),
            )


def _order_key(reason: str) -> str | None:
    """The control key named in a HALT's or a pause's reason (None: an older reason)."""
    found = re.search(r" via (\S+) " + re.escape(FROM_CONTROL) + "$", reason)
    return found.group(1) if found else None
