"""The transport-independent command core: text in, typed result out.

Surfaces (console, Slack) call `handle` with what the user typed and `confirm`/`cancel` with a
nonce; they render the results. Read-only commands live in `ops.control.queries`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ops.backtest.sessions import SessionSource
from ops.config.settings import ConfigError, Settings
from ops.control.audited_core import AuditedCore
from ops.control.confirm import Confirmations, Pending
from ops.control.holdings import Holdings
from ops.control.param_change import apply_change, preview_lines, read_change, settings_after
from ops.control.parsing import ParsedCommand, parse_command
from ops.control.parts import ControlParts, IncidentDesk, Spawn
from ops.control.preview import Previews
from ops.control.queries import Queries
from ops.journal.access import JournalAccess
from ops.shared import messages
from ops.shared.formatting import echo, format_value
from ops.shared.results import (
    CommandError,
    ConfirmRequest,
    Done,
    HelpResult,
    Result,
    UsageRefused,
)
from ops.watch.checklist import TEST_ALERT
from ops.watch.checklist import evaluate as evaluate_checklist
from strategy.types import TradingState

log = logging.getLogger(__name__)


class CommandCore(AuditedCore):
    def __init__(
        self,
        parts: ControlParts,
        confirmations: Confirmations,
        now: Callable[[], float],
        history: SessionSource | None = None,  # the bars a `set` is previewed on
    ) -> None:
        super().__init__(confirmations, parts.journal)
        self._parts = parts
        self.queries = Queries(parts)
        self._holdings = Holdings(parts)
        self.previews = Previews(parts.settings, history, parts.spawn)
        # what the surfaces use beside the commands: the account's incidents (their alert
        # threads, their own errors), its journal (where a thread's root is kept), its tasks
        self.incidents: IncidentDesk = parts.incidents
        self.journal: JournalAccess = parts.journal
        self.spawn: Spawn = parts.spawn
        self._now = now

    @property
    def settings(self) -> Settings:
        """Those in force."""
        return self._parts.settings()

    async def handle(self, text: str, user: str, channel: str, surface: str) -> Result:
        """Run one command line. CommandError means: refused, nothing changed."""
        changes = self._parts.trading.changes
        try:
            command = parse_command(text)
            result = await self._dispatch(command, user, channel)
            await self._state_on_disk_since(changes)
        except ConfigError as exc:
            self.audit(user, channel, surface, text, "refused", str(exc))
            raise CommandError(str(exc)) from exc
        except CommandError as exc:
            self.audit(user, channel, surface, text, "refused", str(exc))
            raise
        self.audit(user, channel, surface, text, "ok", type(result).__name__)
        return result

    async def _dispatch(self, command: ParsedCommand, user: str, channel: str) -> Result:
        name, args = command.name, command.args
        if name in ("set", "reset"):
            return self._request_change(name, args, user, channel)
        if name == "adopt":
            adopt = await self._holdings.adoption(args)
            return self._ask("adopt", user, channel, adopt.title, adopt.lines, adopt.apply)
        if name == "cancel-order":
            return await self._holdings.cancel_order(args, user)
        if name in ("ack", "resolve"):
            return self._take_incident(name, args, user)
        if args and name not in ("pnl",):
            raise UsageRefused(
                messages.EXTRA_ARGS.format(extra=echo(" ".join(args)), usage=messages.USAGE)
            )
        if name == "checklist":
            parts = self._parts
            return await evaluate_checklist(parts.journal, parts.settings(), parts.clock)
        if name == "test-alert":
            return self._test_alert(user)
        if name == "help":
            return HelpResult(messages.HELP)
        if name == "pause":
            return self._pause(user)
        if name == "resume":
            return self._request_resume(user, channel)
        if name == "kill":
            return await self._request_kill(user, channel)
        return await self.queries.run(name, args)

    # -- confirmations ---------------------------------------------------------------------

    async def confirm(self, nonce: str, user: str, channel: str, surface: str) -> Result:
        """Accept the click and apply it; CommandError means refused (nothing changed) or, from
        the apply step, not applied."""
        pending = self.accept(nonce, user, channel, surface)
        return await self.apply(pending, user, channel, surface)

    async def apply(self, pending: Pending, user: str, channel: str, surface: str) -> Result:
        """Run an accepted action; a refusal at this point (the value moved meanwhile, say) is
        audited too."""
        changes = self._parts.trading.changes
        try:
            result = await pending.apply(user)
            await self._state_on_disk_since(changes)
            return result
        except ConfigError as exc:
            self.audit(user, channel, surface, f"apply {pending.kind}", "refused", str(exc))
            raise CommandError(str(exc)) from exc
        except CommandError as exc:
            self.audit(user, channel, surface, f"apply {pending.kind}", "refused", str(exc))
            raise

    async def _state_on_disk_since(self, changes: int) -> None:
        """A reply that follows a state change waits until the change is on disk."""
        if self._parts.trading.changes != changes:
            await self._parts.trading.on_disk()

    def withdraw(self, nonce: str, channel: str, surface: str, reason: str) -> None:
        """Drop a confirmation whose message could not be shown, so no action waits unseen."""
        pending = self.confirmations.withdraw(nonce)
        if pending is not None:
            self.audit(pending.requester, channel, surface, pending.kind, "withdrawn", reason)

    def ttl_sec(self, kind: str) -> float:
        key = "confirm.kill_ttl_sec" if kind == "kill" else "confirm.set_ttl_sec"
        return self.settings.number(key)

    # -- changes ---------------------------------------------------------------------------

    def _request_change(
        self, verb: str, args: tuple[str, ...], user: str, channel: str
    ) -> ConfirmRequest:
        parts = self._parts
        change = read_change(parts.settings(), verb, args)

        async def apply(confirmer: str) -> Result:
            settings, journal = parts.settings(), parts.journal
            return apply_change(settings, parts.apply_settings, journal, change, user, confirmer)

        lines = preview_lines(len(parts.book.positions()), change)
        request = self._ask(verb, user, channel, change.title, lines, apply)
        settings = parts.settings()
        self.previews.start(
            request.nonce,
            change.label,
            (settings, format_value(change.old)),
            (settings_after(settings, change), format_value(change.new)),
        )
        return request

    def _pause(self, user: str) -> Done:
        trading = self._parts.trading
        state = trading.state
        if state is TradingState.HALTED:
            raise CommandError(messages.PAUSE_WHILE_HALTED)
        deadman = trading.paused_by_deadman  # taken over: the operator's now
        if state is TradingState.PAUSED and not deadman:
            raise CommandError(messages.ALREADY.format(state=state.value))
        reason = trading.reason
        trading.change(TradingState.PAUSED, f"paused by {user}", user)
        if deadman:
            return Done(messages.PAUSE_TAKEN_FROM_DEADMAN.format(user=user, reason=reason))
        return Done(f"Paused by {user}: no new entries; exits still run.")

    def _request_resume(self, user: str, channel: str) -> ConfirmRequest:
        trading = self._parts.trading
        state = trading.state
        if state is TradingState.ACTIVE:
            raise CommandError(messages.ALREADY.format(state=state.value))
        self._check_kill_file()
        kill_switch = self._parts.kill_switch
        seen = kill_switch.seen()  # a kill or another state change since then refuses it

        async def apply(confirmer: str) -> Result:
            refusal = await kill_switch.resume_refusal(seen)
            if refusal is not None:
                raise CommandError(refusal)
            trading.change(TradingState.ACTIVE, f"resumed by {confirmer}", confirmer)
            return Done(f"Resumed by {confirmer}: trading is ACTIVE.")

        return self._ask(
            "resume",
            user,
            channel,
            f"resume: {state.value} -> ACTIVE",
            (
                f"now {state.value}: {trading.reason}",
                "new entries will be placed again",
            ),
            apply,
        )

    def _check_kill_file(self) -> None:
        kill_file = self._parts.kill_file()
        if kill_file.exists():
            raise CommandError(messages.RESUME_BLOCKED_KILL_FILE.format(path=kill_file))

    async def _request_kill(self, user: str, channel: str) -> ConfirmRequest:
        lines = await self.queries.kill_preview()

        async def apply(confirmer: str) -> Result:
            return await self._parts.kill_switch.kill(confirmer, "kill command")

        return self._ask(
            "kill",
            user,
            channel,
            "KILL: halt trading, cancel all orders, close every position",
            lines,
            apply,
        )

    def _test_alert(self, user: str) -> Done:
        message = f"test alert fired by {user}: if you can read this, alerts reach you"
        self.incidents.alert(TEST_ALERT, "warning", message)
        self.incidents.resolve(TEST_ALERT, f"test alert by {user} resolved")
        return Done(
            f"test alert fired by {user}: look for `{TEST_ALERT}` in the alerts channel "
            "(in the log when Slack is not connected)"
        )

    def _take_incident(self, verb: str, args: tuple[str, ...], user: str) -> Done:
        """`ack` records who took an incident; `resolve` closes it by hand."""
        open_incidents = self.incidents.open
        open_keys = ", ".join(open_incidents) or "none"
        if len(args) != 1:
            raise CommandError(messages.ACK_USAGE.format(verb=verb, open=open_keys))
        key = args[0]
        if key not in open_incidents:
            raise CommandError(messages.ACK_UNKNOWN.format(key=key, open=open_keys))
        if verb == "ack":
            self.incidents.acknowledge(key, user)
            return Done(f"incident {key} acknowledged by {user}")
        self.incidents.resolve(key, f"resolved by hand by {user}")
        return Done(f"incident {key} resolved by {user}")
