"""Which of our orders may be live at Alpaca, and the freshest view of each.

Stream events, REST replies and re-reads after a reconnect reach us in any order. Only news
is passed on: an older view never undoes a newer one, a final order never becomes working
again, and each fill is passed on once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

from strategy.types import OrderStatus, OrderUpdate

_PROGRESS = {OrderStatus.NEW: 0, OrderStatus.ACCEPTED: 1, OrderStatus.PARTIALLY_FILLED: 2}
FINAL_REMEMBERED = 10_000  # finished orders whose late news is still recognised as old


def _rank(update: OrderUpdate) -> tuple[bool, int, int]:
    return (update.status.is_final, update.filled_qty, _PROGRESS.get(update.status, 3))


class OrderTracker:
    def __init__(self, remember_final: int = FINAL_REMEMBERED) -> None:
        self._working: dict[str, OrderUpdate | None] = {}  # None: sent, nothing heard yet
        self._final: OrderedDict[str, OrderUpdate] = OrderedDict()
        self._remember = remember_final

    def sent(self, client_order_id: str) -> None:
        """Tracked from the moment it is sent, so a re-read after a reconnect includes it
        even while its REST reply is still on the way."""
        if client_order_id not in self._final:
            self._working.setdefault(client_order_id, None)

    def not_placed(self, client_order_id: str) -> None:
        """The broker has no such order: forget it, unless something was heard of it."""
        if client_order_id in self._working and self._working[client_order_id] is None:
            del self._working[client_order_id]

    def working(self) -> list[str]:
        return list(self._working)

    def is_working(self, client_order_id: str) -> bool:
        return client_order_id in self._working

    def last(self, client_order_id: str) -> OrderUpdate | None:
        """The freshest view passed on, None before any."""
        return self._final.get(client_order_id) or self._working.get(client_order_id)

    def news(self, update: OrderUpdate) -> bool:
        """Record `update`; False when it says nothing newer than what was passed on."""
        coid = update.client_order_id
        if coid in self._final:
            return False
        known = self._working.get(coid)
        if known is not None and _rank(update) <= _rank(known):
            return False
        if update.status.is_final:
            self._working.pop(coid, None)
            self._final[coid] = update
            if len(self._final) > self._remember:
                self._final.popitem(last=False)
        else:
            self._working[coid] = update
        return True

    def reply(self, update: OrderUpdate) -> OrderUpdate:
        """What the caller of a REST request applies: the reply if it is news, else the
        freshest view already passed on, without its fill (that was applied with it)."""
        if self.news(update):
            return update
        coid = update.client_order_id
        known = self._final.get(coid) or self._working.get(coid)
        return replace(known, fill=None) if known is not None else update
