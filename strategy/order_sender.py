"""The engine's send side: an order the book already holds goes to the broker on a tracked
background task (or on a queue whoever set it runs), and every outcome comes back as an order
update, a broker refusal included; an order lost in transit is looked up until it is known."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from strategy.clock import Clock
from strategy.engine_outputs import EngineCounters, EngineEvents
from strategy.latency import LatencyTracker
from strategy.recorder import Recorder, keeps
from strategy.risk import RiskGate
from strategy.types import OrderRequest, OrderUpdate
from strategy.unknown_orders import UnknownOrderPolicy, look_up
from strategy.venue import Broker, BrokerUnavailable, OrderRejected, SendRefused

log = logging.getLogger("strategy.engine")  # the engine's logger: these are its messages


class OrderSender:
    def __init__(
        self,
        *,
        broker: Broker,
        gate: RiskGate,
        clock: Clock,
        recorder: Recorder,
        latency: LatencyTracker | None,
        counters: EngineCounters,
        events: EngineEvents,
        on_update: Callable[[OrderUpdate], None],
        unknown_orders: UnknownOrderPolicy,
        drain_timeout_sec: float,
    ) -> None:
        self.broker = broker
        self._gate = gate
        self._clock = clock
        self._recorder = recorder
        self._records_refusals = keeps(recorder, "refusals")
        self._latency = latency
        self._counters = counters
        self._events = events
        self._on_update = on_update
        self._unknown_policy = unknown_orders
        self._drain_timeout = drain_timeout_sec
        self._decided_ns: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # submits queued here instead of on tasks, for whoever runs them (a backtest's replay
        # runs them where the feed would have let tasks run: a task per order is a third of
        # an order's cost there, and the simulated broker answers at once)
        self.deferred: list[Coroutine[Any, Any, None]] | None = None

    def in_background(self, order: OrderRequest) -> None:
        """Send an order the book already holds, on a tracked task (or queued on `deferred`,
        when whoever set it runs them)."""
        if self._latency is not None:
            self._decided_ns[order.client_order_id] = self._clock.monotonic_ns()
        if self.deferred is not None:
            self.deferred.append(self._submit(order))
            return
        task = asyncio.get_running_loop().create_task(
            self._submit(order), name=f"submit:{order.client_order_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def submit(self, order: OrderRequest) -> None:
        """Send an order the book already holds and wait until the broker has answered."""
        if self._latency is not None:
            self._decided_ns[order.client_order_id] = self._clock.monotonic_ns()
        await self._submit(order)

    def acked(self, client_order_id: str) -> None:
        """The order's first update since it was decided: the decision-to-ack latency."""
        decided = self._decided_ns.pop(client_order_id, None)
        if decided is not None and self._latency is not None:
            self._latency.observe("ack", self._clock.monotonic_ns() - decided)

    async def _submit(self, order: OrderRequest) -> None:
        refusal = self._gate.send_refusal(order)
        if refusal is not None:
            self._reject(order, refusal)
            return
        started = self._clock.monotonic_ns() if self._latency is not None else 0
        try:
            ack = await self.broker.submit(order)
        except SendRefused as exc:
            self._reject(order, str(exc))
            return
        except OrderRejected as exc:
            self._reject(order, f"broker rejected: {exc}")
            return
        except BrokerUnavailable as exc:
            await self._resolve_unknown(order, exc)
            return
        except Exception as exc:  # the boundary of a background task: never lose it silently
            log.exception("submit %s failed", order.client_order_id)
            self._reject(order, f"submit failed: {type(exc).__name__}: {exc}")
            return
        if self._latency is not None:
            self._latency.observe("submit", self._clock.monotonic_ns() - started)
        self._on_update(ack)

    async def _resolve_unknown(self, order: OrderRequest, exc: Exception) -> None:
        """An order whose submit failed in transit (see strategy.unknown_orders)."""
        looked_up = await look_up(
            order,
            exc,
            self.broker,
            self._unknown_policy,
            self._clock,
            self._recorder,
            self._events.order_unknown,
        )
        found = looked_up.found
        if found is None:
            self._reject(order, f"broker unavailable, order not placed: {exc}")
        else:
            self._on_update(found)
        if looked_up.alerted:
            outcome = found.status.value if found is not None else "never placed"
            self._events.order_known(order, f"outcome known: {outcome}")

    def _reject(self, order: OrderRequest, reason: str) -> None:
        self._counters.broker_rejects += 1
        self._on_update(OrderUpdate.rejected(order, reason, self._clock.now()))
        self.journal_refusal(order, "broker", reason)
        log.warning("order %s %s", order.client_order_id, reason)

    def journal_refusal(self, order: OrderRequest, rule: str, reason: str) -> None:
        if not self._records_refusals:
            return  # a backtest's recorder drops them: no row built
        row = {
            "ts": self._clock.now(),
            "client_order_id": order.client_order_id,
            "symbol": order.symbol,
            "rule": rule,
            "reason": reason,
            "intent": str(order.intent),
        }
        self._recorder.record("refusals", row)

    @property
    def sending(self) -> bool:
        """Whether a submit on a background task has not ended yet."""
        return bool(self._tasks)

    async def drain(self) -> None:
        """Wait for in-flight submits, for as long as one broker request may take."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self._drain_timeout)
