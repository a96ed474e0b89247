"""The simulated broker's fill rules: whether an order fills at a bar's open, at what price
(slippage for market orders, the limit for marketable limit orders) and for how much (random
partial fills), IOC remainders canceled, and the flatten refusals a drill asked for."""

from __future__ import annotations

import random
from collections.abc import Callable

from strategy.types import Fill, Intent, OrderStatus, OrderType, OrderUpdate, Side, TimeInForce
from strategy.venues.sim_account import SimAccount, SimOrder
from strategy.venues.sim_settings import SimSettings

# the broker's: an update for the order, told to its listeners (status, fill, reason)
Emit = Callable[[SimOrder, OrderStatus, Fill | None, str], OrderUpdate]


class SimFills:
    def __init__(self, settings: SimSettings, account: SimAccount, emit: Emit) -> None:
        self._settings = settings
        self._rng = random.Random(settings.seed)
        self._account = account
        self._emit = emit
        self._refusals: dict[str, int] = {}

    def refuse_next_close(self, symbol: str, times: int) -> None:
        self._refusals[symbol] = self._refusals.get(symbol, 0) + times

    def execute(self, order: SimOrder, open_: float) -> bool:
        """Try to fill at this open; True if the order keeps working (DAY remainder)."""
        req = order.request
        emit = self._emit
        if req.intent is Intent.FLATTEN and self._refusals.get(req.symbol, 0) > 0:
            self._refusals[req.symbol] -= 1
            emit(order, OrderStatus.REJECTED, None, "simulated refusal")
            return False
        if req.type is OrderType.MARKET:
            price = open_ * (1 + req.side.sign * self._slippage_bps() / 1e4)
        else:
            limit = req.reference_price
            marketable = open_ <= limit if req.side is Side.BUY else open_ >= limit
            if not marketable:
                if req.tif is TimeInForce.IOC:
                    emit(order, OrderStatus.CANCELED, None, "IOC limit not marketable")
                    return False
                return True
            price = min(limit, open_) if req.side is Side.BUY else max(limit, open_)
        remaining = req.qty - order.update.filled_qty
        qty = remaining
        if remaining > 1 and self._rng.random() < self._settings.partial_fill_prob:
            qty = self._rng.randint(1, remaining - 1)
        fill = self._account.settle(req, qty, round(price, 4))
        done = qty == remaining
        emit(order, OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED, fill, "")
        if done:
            return False
        if req.tif is TimeInForce.IOC:
            emit(order, OrderStatus.CANCELED, None, "IOC remainder canceled")
            return False
        return True

    def _slippage_bps(self) -> float:
        settings = self._settings
        if settings.slippage_samples_bps:
            return self._rng.choice(settings.slippage_samples_bps)
        if settings.slippage_std_bps > 0:
            return self._rng.gauss(settings.slippage_bps, settings.slippage_std_bps)
        return settings.slippage_bps
