"""The transport-independent command core: text in, typed result out.

Surfaces (console, Slack) call `handle` with what the user typed and `confirm`/`cancel` with a
nonce; they render the results. Read-only commands live in `ops.control.queries`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ops.backtest.sessions import SessionSource
from ops.config.settings import ConfigError
from ops.control.audited_core import AuditedCore
from ops.control.confirm import Confirmations, Pending
from ops.control.param_change import apply_change, preview_lines, read_change, settings_after
from ops.control.parsing import ParsedCommand, parse_command
from ops.control.preview import Previews
from ops.control.queries import Queries
from ops.service.adoption import adoption_price, operator_gain
from ops.service.foreign_orders import FOREIGN_ORDER_INCIDENT
from ops.service.service import TradingService
from ops.shared import messages
from ops.shared.formatting import echo, format_value, signed_money
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
from strategy.types import Intent, TradingState
from strategy.venue import BrokerError

log = logging.getLogger(__name__)


class CommandCore(AuditedCore):
    def __init__(
        self,
        service: TradingService,
        confirmations: Confirmations,
        now: Callable[[], float],
        history: SessionSource | None = None,  # the bars a `set` is previewed on
    ) -> None:
        super().__init__(confirmations, service.journal)
        self.service = service
        self.queries = Queries(service)
        self.previews = Previews(lambda: service.settings, history, service.spawn)
        self._now = now

    async def handle(self, text: str, user: str, channel: str, surface: str) -> Result:
        """Run one command line. CommandError means: refused, nothing changed."""
        changes = self.service.trading.changes
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
            return await self._request_adopt(args, user, channel)
        if name == "cancel-order":
            return await self._cancel_order(args, user)
        if name in ("ack", "resolve"):
            return self._take_incident(name, args, user)
        if args and name not in ("pnl",):
            raise UsageRefused(
                messages.EXTRA_ARGS.format(extra=echo(" ".join(args)), usage=messages.USAGE)
            )
        if name == "checklist":
            return await evaluate_checklist(self.service)
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
        changes = self.service.trading.changes
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
        if self.service.trading.changes != changes:
            await self.service.state_on_disk()

    def withdraw(self, nonce: str, channel: str, surface: str, reason: str) -> None:
        """Drop a confirmation whose message could not be shown, so no action waits unseen."""
        pending = self.confirmations.withdraw(nonce)
        if pending is not None:
            self.audit(pending.requester, channel, surface, pending.kind, "withdrawn", reason)

    def _ask(
        self,
        kind: str,
        user: str,
        channel: str,
        title: str,
        lines: tuple[str, ...],
        apply: Callable[[str], Awaitable[Result]],
    ) -> ConfirmRequest:
        """Hold `apply` behind a confirmation and describe exactly what it will do."""
        pending = self.confirmations.open(kind, user, channel, self._ttl(kind), apply)
        return ConfirmRequest(
            nonce=pending.nonce,
            kind=kind,
            title=title,
            lines=lines,
            requester=user,
            expires_at=pending.expires_at,
        )

    def _ttl(self, kind: str) -> float:
        key = "confirm.kill_ttl_sec" if kind == "kill" else "confirm.set_ttl_sec"
        return self.service.settings.number(key)

    # -- changes ---------------------------------------------------------------------------

    def _request_change(
        self, verb: str, args: tuple[str, ...], user: str, channel: str
    ) -> ConfirmRequest:
        change = read_change(self.service, verb, args)

        async def apply(confirmer: str) -> Result:
            return apply_change(self.service, change, user, confirmer)

        lines = preview_lines(self.service, change)
        request = self._ask(verb, user, channel, change.title, lines, apply)
        settings = self.service.settings
        self.previews.start(
            request.nonce,
            change.label,
            (settings, format_value(change.old)),
            (settings_after(settings, change), format_value(change.new)),
        )
        return request

    def _pause(self, user: str) -> Done:
        state = self.service.gate.state
        if state is TradingState.HALTED:
            raise CommandError(messages.PAUSE_WHILE_HALTED)
        deadman = self.service.trading.paused_by_deadman  # taken over: the operator's now
        if state is TradingState.PAUSED and not deadman:
            raise CommandError(messages.ALREADY.format(state=state.value))
        reason = self.service.gate.state_reason
        self.service.set_state(TradingState.PAUSED, f"paused by {user}", user)
        if deadman:
            return Done(messages.PAUSE_TAKEN_FROM_DEADMAN.format(user=user, reason=reason))
        return Done(f"Paused by {user}: no new entries; exits still run.")

    def _request_resume(self, user: str, channel: str) -> ConfirmRequest:
        state = self.service.gate.state
        if state is TradingState.ACTIVE:
            raise CommandError(messages.ALREADY.format(state=state.value))
        self._check_kill_file()
        kill_switch = self.service.kill_switch
        seen = kill_switch.seen()  # a kill or another state change since then refuses it

        async def apply(confirmer: str) -> Result:
            refusal = await kill_switch.resume_refusal(seen)
            if refusal is not None:
                raise CommandError(refusal)
            self.service.set_state(TradingState.ACTIVE, f"resumed by {confirmer}", confirmer)
            return Done(f"Resumed by {confirmer}: trading is ACTIVE.")

        return self._ask(
            "resume",
            user,
            channel,
            f"resume: {state.value} -> ACTIVE",
            (
                f"now {state.value}: {self.service.gate.state_reason}",
                "new entries will be placed again",
            ),
            apply,
        )

    def _check_kill_file(self) -> None:
        if self.service.kill_file.exists():
            raise CommandError(
                messages.RESUME_BLOCKED_KILL_FILE.format(path=self.service.kill_file)
            )

    async def _request_kill(self, user: str, channel: str) -> ConfirmRequest:
        lines = await self.queries.kill_preview()

        async def apply(confirmer: str) -> Result:
            return await self.service.kill(confirmer)

        return self._ask(
            "kill",
            user,
            channel,
            "KILL: halt trading, cancel all orders, close every position",
            lines,
            apply,
        )

    async def _request_adopt(
        self, args: tuple[str, ...], user: str, channel: str
    ) -> ConfirmRequest:
        if len(args) != 1:
            raise CommandError(messages.ADOPT_USAGE)
        symbol = args[0].upper()
        if symbol not in self.service.engine.symbols:
            raise CommandError(f"{symbol} is not a configured symbol. {messages.ADOPT_USAGE}")
        broker_qty, broker_avg, broker_price = await self._broker_position(symbol)
        book = self.service.book
        book_qty = book.position_qty(symbol)
        if broker_qty == book_qty:
            raise CommandError(messages.ADOPT_AGREE.format(symbol=symbol, qty=book_qty))
        fresh_sec = self.service.settings.number("risk.stale_bar_sec")
        now = self.service.clock.now()
        price = adoption_price(book, symbol, now, fresh_sec, broker_avg, broker_price)
        gain = operator_gain(book, symbol, broker_qty, broker_avg, price.price)

        async def apply(confirmer: str) -> Result:
            qty, avg, price_now = await self._broker_position(symbol)
            if (qty, avg) != (broker_qty, broker_avg):
                raise CommandError(messages.ADOPT_MOVED.format(symbol=symbol))
            done = self.service.adopt_position(symbol, qty, avg, confirmer, price_now)
            return Done(
                messages.ADOPTED.format(
                    symbol=symbol,
                    qty=qty,
                    added=done.added,
                    price=done.price.price,
                    source=done.price.source,
                    user=confirmer,
                    gain=signed_money(done.operator_pnl),
                )
            )

        return self._ask(
            "adopt",
            user,
            channel,
            f"adopt {symbol}: book {book_qty:+d} -> broker {broker_qty:+d}",
            messages.adopt_preview(
                symbol,
                broker_qty - book_qty,
                broker_qty,
                broker_avg,
                price.price,
                price.source,
                gain,
            ),
            apply,
        )

    async def _cancel_order(self, args: tuple[str, ...], user: str) -> Done:
        """One working order canceled at the broker (a foreign one found at start-up, say);
        no confirmation: canceling only ever reduces what can happen."""
        if len(args) != 1:
            raise CommandError(messages.CANCEL_ORDER_USAGE)
        coid = args[0]
        order = self.service.book.order(coid)
        if order is None or not order.working:
            raise CommandError(messages.CANCEL_ORDER_UNKNOWN.format(coid=coid))
        try:
            await self.service.broker.cancel(coid)
        except BrokerError as exc:
            raise CommandError(messages.CANCEL_ORDER_FAILED.format(coid=coid, error=exc)) from exc
        r = order.request
        self.service.resolve(
            f"{FOREIGN_ORDER_INCIDENT}{r.symbol}", f"{coid}: cancel sent by {user}"
        )
        filled = "stay yours until adopted" if r.intent is Intent.FOREIGN else "stay booked"
        return Done(
            f"cancel of {coid} ({r.side} {r.qty} {r.symbol}) sent by {user}; "
            f"shares it filled before {filled}"
        )

    async def _broker_position(self, symbol: str) -> tuple[int, float, float | None]:
        """(qty, average price, current price) at the broker; (0, 0.0, None) if it holds none."""
        try:
            held = await self.service.broker.positions()
        except BrokerError as exc:
            raise CommandError(f"cannot read the broker's positions: {exc}") from exc
        for position in held:
            if position.symbol == symbol:
                return position.qty, position.avg_price, position.market_price
        return 0, 0.0, None

    def _test_alert(self, user: str) -> Done:
        message = f"test alert fired by {user}: if you can read this, alerts reach you"
        self.service.alert(TEST_ALERT, "warning", message)
        self.service.resolve(TEST_ALERT, f"test alert by {user} resolved")
        return Done(
            f"test alert fired by {user}: look for `{TEST_ALERT}` in the alerts channel "
            "(in the log when Slack is not connected)"
        )

    def _take_incident(self, verb: str, args: tuple[str, ...], user: str) -> Done:
        """`ack` records who took an incident; `resolve` closes it by hand."""
        open_keys = ", ".join(self.service.open_alerts) or "none"
        if len(args) != 1:
            raise CommandError(messages.ACK_USAGE.format(verb=verb, open=open_keys))
        key = args[0]
        if key not in self.service.open_alerts:
            raise CommandError(messages.ACK_UNKNOWN.format(key=key, open=open_keys))
        if verb == "ack":
            self.service.acknowledge(key, user)
            return Done(f"incident {key} acknowledged by {user}")
        self.service.resolve(key, f"resolved by hand by {user}")
        return Done(f"incident {key} resolved by {user}")
