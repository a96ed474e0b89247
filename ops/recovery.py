"""Start-up recovery against a real broker: what was in flight, what the broker holds.

The broker is the source of truth for positions and cash; the journal tells which orders we
had sent. Each journaled order that never reached a final state is looked up by its
client_order_id and tracked again if it is still working.
"""

from __future__ import annotations

from dataclasses import dataclass

from ops.service import TradingService
from strategy.types import Intent, OrderRequest, OrderType, Side, TimeInForce

UNFINISHED = """
    select * from orders o
    where not exists (
        select 1 from order_updates u
        where u.client_order_id = o.client_order_id
          and u.status in ('filled', 'canceled', 'rejected', 'expired'))
    order by o.id
"""


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    still_working: tuple[str, ...]
    finished_while_away: tuple[str, ...]
    unknown_at_broker: tuple[str, ...]
    positions: tuple[str, ...]
    equity: float

    def lines(self) -> list[str]:
        lines = [f"recovered at start-up: broker equity ${self.equity:,.2f}"]
        lines += [f"  position adopted from the broker: {p}" for p in self.positions]
        lines += [f"  order still working: {o}" for o in self.still_working]
        lines += [f"  order finished while we were away: {o}" for o in self.finished_while_away]
        lines += [f"  journaled order unknown to the broker: {o}" for o in self.unknown_at_broker]
        return lines

    @property
    def differences(self) -> bool:
        return bool(self.finished_while_away or self.unknown_at_broker)


def _request(row: dict[str, object]) -> OrderRequest:
    limit = row["limit_price"]
    return OrderRequest(
        client_order_id=str(row["client_order_id"]),
        symbol=str(row["symbol"]),
        side=Side(str(row["side"])),
        qty=int(row["qty"]),  # type: ignore[call-overload]
        type=OrderType(str(row["type"])),
        tif=TimeInForce(str(row["tif"])),
        limit_price=float(limit) if limit is not None else None,  # type: ignore[arg-type]
        decision_price=float(row["decision_price"]),  # type: ignore[arg-type]
        intent=Intent(str(row["intent"])),
        created_ts=float(row["ts"]),  # type: ignore[arg-type]
    )


async def recover(service: TradingService) -> RecoveryReport:
    broker, book = service.broker, service.book
    working, finished, unknown = [], [], []
    seen: set[str] = set()
    for row in await service.journal.aquery(UNFINISHED):
        request = _request(row)
        if request.client_order_id in seen:
            continue
        seen.add(request.client_order_id)
        update = await broker.get_order(request.client_order_id)
        label = f"{request.client_order_id} ({request.side} {request.qty} {request.symbol})"
        if update is None:
            unknown.append(label)
            continue
        service.journal.record(
            "order_updates",
            {
                "client_order_id": update.client_order_id,
                "status": update.status.value,
                "filled_qty": update.filled_qty,
                "avg_price": update.filled_avg_price,
                "reason": "found at start-up",
            },
        )
        if update.status.is_final:
            finished.append(f"{label}: {update.status}, filled {update.filled_qty}")
        else:
            book.adopt_order(request, update)
            working.append(f"{label}: {update.status}")
    now = service.clock.now()
    held = []
    for position in await broker.positions():
        book.restore_position(position.symbol, position.qty, position.avg_price)
        book.mark(position.symbol, position.market_price, now)
        held.append(f"{position.symbol} {position.qty:+d} @ {position.avg_price:.2f}")
    account = await broker.account()
    book.start_day()
    return RecoveryReport(
        tuple(working), tuple(finished), tuple(unknown), tuple(held), account.equity
    )
