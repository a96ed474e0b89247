"""The loopback Alpaca's tiny exchange, whichever protocol asks: orders placed and executed
(market orders at the last price, IOC limits when marketable, else canceled), positions, cash
and account activities. Every order event goes out as a trade update (`_push`,
alpaca_trade_updates.py). A mixin of AlpacaFake (tests/fakes/alpaca.py), which holds the state.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

TERMINAL = {"filled", "canceled", "rejected", "expired"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class Exchange:
    def partial_next(self, qty: int) -> None:
        """The next order fills only `qty` shares; an IOC remainder is canceled."""
        self._partial_next = qty

    def fill_pending(self) -> None:
        for order in list(self.orders.values()):
            if order["status"] not in TERMINAL:
                self._execute(order)

    def stop_pending(self) -> None:
        """Alpaca's `stopped`: each order not yet final has a trade guaranteed, not yet made
        (`fill_pending` makes it)."""
        for order in list(self.orders.values()):
            if order["status"] not in TERMINAL:
                order.update(status="stopped", updated_at=iso(self.now))
                self._push("stopped", order)

    def orders_for(self, client_order_id: str) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o["client_order_id"] == client_order_id]

    def equity(self) -> float:
        return self.cash + sum(q * self.prices.get(s, a) for s, (q, a) in self.positions.items())

    def _new_order(self, body: dict[str, Any], client_order_id: str) -> dict[str, Any]:
        now = iso(self.now)
        order = {
            "id": str(uuid.uuid4()),
            "client_order_id": client_order_id,
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": None,
            "canceled_at": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, body["symbol"])),
            "symbol": body["symbol"],
            "asset_class": "us_equity",
            "qty": str(int(float(body["qty"]))),
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": "simple",
            "order_type": body["type"],
            "type": body["type"],
            "side": body["side"],
            "time_in_force": body["time_in_force"],
            "limit_price": body.get("limit_price"),
            "stop_price": None,
            "status": "new",
            "extended_hours": False,
            "legs": None,
        }
        self.orders[order["id"]] = order
        self._push("new", order)
        return order

    def _execute(self, order: dict[str, Any]) -> None:
        """Fill at the last price if marketable; IOC leftovers are canceled."""
        symbol, side = order["symbol"], order["side"]
        price = self.prices[symbol]
        limit = order["limit_price"]
        marketable = limit is None or (
            price <= float(limit) if side == "buy" else price >= float(limit)
        )
        if not marketable:
            if order["time_in_force"] == "ioc":
                self._finish(order, "canceled")
            return
        qty = int(order["qty"]) - int(order["filled_qty"])  # stored as whole-number strings
        partial = 0 < self._partial_next < qty
        if partial:
            qty, self._partial_next = self._partial_next, 0
        signed = qty if side == "buy" else -qty
        held, avg = self.positions.get(symbol, (0, 0.0))
        total = held + signed
        if total == 0:
            self.positions.pop(symbol, None)
        elif held == 0 or (held > 0) == (signed > 0):
            self.positions[symbol] = (total, (avg * held + price * signed) / total)
        else:
            self.positions[symbol] = (total, avg if (total > 0) == (held > 0) else price)
        self.cash -= signed * price
        done = int(order["filled_qty"]) + qty
        before = float(order["filled_avg_price"] or 0) * int(order["filled_qty"])
        order.update(
            filled_qty=str(done),
            filled_avg_price=str((before + price * qty) / done),
            status="partially_filled" if partial else "filled",
            updated_at=iso(self.now),
        )
        if not partial:
            order["filled_at"] = iso(self.now)
        self._push(
            "partial_fill" if partial else "fill", order, price=price, qty=qty, position_qty=total
        )
        if partial and order["time_in_force"] == "ioc":
            self._finish(order, "canceled")

    def _finish(self, order: dict[str, Any], status: str) -> None:
        order.update(status=status, updated_at=iso(self.now))
        if status == "canceled":
            order["canceled_at"] = iso(self.now)
        self._push(status, order)

    def _cancel_working(self) -> list[dict[str, Any]]:
        working = [o for o in self.orders.values() if o["status"] not in TERMINAL]
        for order in working:
            self._finish(order, "canceled")
        return working

    # -- account activities (fees, dividends) ----------------------------------------------

    def charge_fee(self, amount: float, description: str = "REG/TAF fee") -> str:
        """Alpaca books a fee against the account's cash (an activity of type FEE); its id."""
        return self.post_activity("FEE", -amount, description)

    def pay_dividend(self, symbol: str, amount: float) -> str:
        """Alpaca credits a cash dividend to the account (an activity of type DIV); its id."""
        return self.post_activity("DIV", amount, f"Cash DIV {symbol}")

    def post_activity(self, kind: str, net_amount: float, description: str) -> str:
        """A non-trade activity moving `net_amount` into the account's cash; its id."""
        day = datetime.fromtimestamp(self.now, UTC).strftime("%Y%m%d")
        activity = {
            "id": f"{day}{len(self.activities):09d}::{uuid.uuid4()}",
            "account_id": str(uuid.UUID(int=1)),
            "activity_type": kind,
            "date": f"{day[:4]}-{day[4:6]}-{day[6:]}",
            "net_amount": str(net_amount),
            "description": description,
            "status": "executed",
        }
        self.activities.append(activity)
        self.cash += net_amount
        return str(activity["id"])
