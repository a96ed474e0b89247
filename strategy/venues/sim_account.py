"""The simulated broker's account: cash, holdings, last prices, and the running sums of its
holdings' worth and its working orders' committed buying power; a fill settled against it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from strategy.clock import Clock
from strategy.running_sum import RunningSum
from strategy.types import Fill, OrderRequest, OrderUpdate, Side
from strategy.venues.sim_settings import SimSettings


@dataclass(slots=True)
class SimOrder:
    """An order the simulated broker holds: what was asked, and its latest update."""

    request: OrderRequest
    update: OrderUpdate
    notional: float = 0.0  # filled qty x price, for the average


@dataclass(slots=True)
class Holding:
    qty: int = 0
    avg_price: float = 0.0


class SimAccount:
    """`last`, `holdings` and `worth` are read and written inline by the broker's per-bar path
    (a holding's new worth at a new price: no call a bar)."""

    def __init__(self, settings: SimSettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self.cash = settings.starting_cash
        self.last: dict[str, float] = {}
        self.holdings: dict[str, Holding] = {}  # open ones only
        # kept as holdings, orders and prices change (RunningSum), not summed on every submit:
        self.worth = RunningSum()  # qty x last price of each holding
        self.committed = RunningSum()  # each symbol's working orders' exposure_cost

    def equity(self) -> float:
        return self.cash + self.worth.total

    def buying_power(self) -> float:
        return self.equity() * self._settings.buying_power_multiple - self.committed.total

    def exposure_cost(self, req: OrderRequest) -> float:
        """Cost of the part of an order that increases |position| (0 for reducing orders)."""
        holding = self.holdings.get(req.symbol)
        held = holding.qty if holding is not None else 0
        reducing = min(req.qty, abs(held)) if held and (held > 0) != (req.side is Side.BUY) else 0
        price = req.limit_price or self.last.get(req.symbol, 0.0)
        return (req.qty - reducing) * price

    def revalue(self, symbol: str, working: Iterable[SimOrder] | None) -> None:
        """The symbol's holding and working orders at its price and holding now (after a new
        price, or a bar's fills); `working`: its orders, None if it never had any."""
        holding = self.holdings.get(symbol)
        if holding is not None:
            self.worth.set(symbol, holding.qty * self.last.get(symbol, holding.avg_price))
        else:
            self.worth.drop(symbol)
        if working is not None:
            self.recommit(symbol, working)

    def recommit(self, symbol: str, working: Iterable[SimOrder]) -> None:
        cost = 0.0
        for order in working:
            cost += self.exposure_cost(order.request)
        if cost:
            self.committed.set(symbol, cost)
        else:
            self.committed.drop(symbol)

    def settle(self, req: OrderRequest, qty: int, price: float) -> Fill:
        """`qty` of the order filled at `price`: cash and the holding move, the commission paid."""
        commission = round(qty * self._settings.commission_per_share, 6)
        signed = req.side.sign * qty
        self.cash -= signed * price + commission
        holding = self.holdings.setdefault(req.symbol, Holding())
        if holding.qty == 0 or (holding.qty > 0) == (signed > 0):
            total = holding.qty + signed
            holding.avg_price = (holding.avg_price * holding.qty + price * signed) / total
            holding.qty = total
        else:
            remainder = holding.qty + signed
            if remainder != 0 and (remainder > 0) != (holding.qty > 0):
                holding.avg_price = price
            holding.qty = remainder
        if holding.qty == 0:  # only open holdings are kept
            del self.holdings[req.symbol]
        return Fill(
            req.client_order_id, req.symbol, req.side, qty, price, commission, self._clock.now()
        )
