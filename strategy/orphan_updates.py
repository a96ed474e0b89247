"""Updates for orders the book does not know (yet). The broker may report an order it placed
for us (close-all) before the reply that names it reaches the book, so such updates are held
for the order's tracking; one for an order nobody placed for us is an anomaly."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from strategy.types import OrderUpdate

MAX_ORPHANS = 1_000  # updates for unknown orders kept, by order, oldest dropped first


class OrphanUpdates:
    def __init__(self, anomaly: Callable[[str, str], None]) -> None:
        self._anomaly = anomaly  # (kind, detail): journaled by the book
        self._held: dict[str, list[OrderUpdate]] = {}
        self._expecting = 0  # requests in flight that make the broker place orders for us
        self._quiet: dict[str, str] = {}  # orphans held meanwhile, not yet called anomalies
        self._named: set[str] = set()  # orders such a request placed, until tracked

    def hold(self, update: OrderUpdate) -> None:
        coid = update.client_order_id
        if coid not in self._held:
            if self._expecting:
                self._quiet[coid] = f"{coid} {update.status}"
            elif coid not in self._named:
                self._anomaly("unknown_order", f"{coid} {update.status}")
            if len(self._held) >= MAX_ORPHANS:
                self._held.pop(next(iter(self._held)))
        self._held.setdefault(coid, []).append(update)

    def expect(self) -> None:
        """A request that makes the broker place orders for us is on its way: an update for
        an unknown order may be one of them, so it is held without an anomaly until `named`."""
        self._expecting += 1

    def named(self, client_order_ids: Iterable[str]) -> None:
        """The request came back naming the orders it placed: they are ours (tracked when their
        acks are); an update held meanwhile for any other order is an unknown order after all."""
        self._expecting -= 1
        self._named.update(client_order_ids)
        if self._expecting:
            return
        for coid, detail in self._quiet.items():
            if coid not in self._named:
                self._anomaly("unknown_order", detail)
        self._quiet.clear()

    def take(self, client_order_id: str) -> list[OrderUpdate]:
        """The updates held for an order now tracked, oldest first."""
        self._named.discard(client_order_id)
        return self._held.pop(client_order_id, [])
