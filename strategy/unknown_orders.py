"""Orders whose submit failed in transit. Such an order may exist at the broker, so it stays
working (nothing else is sent for its symbol) and is looked up by client_order_id, with
backoff, until the broker answers; past `alert_after_sec` the operator is told."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from strategy.clock import Clock
from strategy.recorder import Recorder
from strategy.types import OrderRequest, OrderUpdate
from strategy.venue import Broker


@dataclass(frozen=True, slots=True)
class UnknownOrderPolicy:
    """How an order whose submit failed in transit is looked up until its outcome is known."""

    first_retry_sec: float = 1.0
    max_retry_sec: float = 30.0
    alert_after_sec: float = 60.0


@dataclass(frozen=True, slots=True)
class LookedUp:
    found: OrderUpdate | None  # None: the broker has no such order, it was never placed
    alerted: bool  # the operator was told the outcome was unknown


async def look_up(
    order: OrderRequest,
    cause: Exception,
    broker: Broker,
    policy: UnknownOrderPolicy,
    clock: Clock,
    recorder: Recorder,
    on_unknown: Callable[[OrderRequest, str], None],
) -> LookedUp:
    """Ask the broker for `order` until it answers. Each failed lookup is journaled as an
    anomaly; `on_unknown` hears once that the outcome is still unknown."""
    started = clock.monotonic_ns()
    delay = policy.first_retry_sec
    alerted = False
    while True:
        try:
            return LookedUp(await broker.get_order(order.client_order_id), alerted)
        except Exception as lookup_exc:  # any failure: the outcome is still unknown
            waited = (clock.monotonic_ns() - started) / 1e9
            recorder.record(
                "anomalies",
                {
                    "ts": clock.now(),
                    "kind": "unresolved_order",
                    "detail": f"{order.client_order_id}: submit {cause}; lookup {lookup_exc}",
                },
            )
            if not alerted and waited >= policy.alert_after_sec:
                alerted = True
                on_unknown(
                    order,
                    f"outcome unknown for {waited:.0f}s (submit: {cause}; lookup: "
                    f"{lookup_exc}); {order.symbol} sends nothing, exits included, until "
                    "it is known; still looking it up",
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, policy.max_retry_sec)
