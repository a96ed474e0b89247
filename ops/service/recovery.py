"""Start-up recovery against a real broker: what was in flight, what the broker holds.

The broker is the source of truth for positions and cash; the journal tells which orders we
had sent and which positions are ours. Each journaled order that never reached a final state
is looked up by its client_order_id: fills it made while we were away are journaled as fills,
and it is tracked again if it is still working. A broker position the journal cannot account
for is the operator's: held out of the strategy's hands, with an incident and an Adopt button.
The day's starting equity and the drawdown peak come from the journal, never from a restart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from ops.service.broker_facing import BrokerFacing
from ops.service.foreign_orders import track_foreign, watch_foreign_orders
from ops.service.reconcile import INCIDENT_PREFIX
from ops.service.retry import read_at_start
from ops.shared.formatting import money
from strategy.market_day import market_time, trading_date
from strategy.types import (
    BrokerPosition,
    Intent,
    OrderRequest,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)

T = TypeVar("T")

UNFINISHED = """
    select * from orders o
    where not exists (
        select 1 from order_updates u
        where u.client_order_id = o.client_order_id
          and u.status in ('filled', 'canceled', 'rejected', 'expired'))
    order by o.id
"""
JOURNALED_FILLS = """
    select coalesce(sum(qty), 0) as qty, coalesce(sum(qty * price), 0.0) as notional
    from fills where client_order_id = ?
"""
# what the journal says the bot holds: its fills, plus what operators adopted
EXPECTED_POSITIONS = """
    select symbol, sum(qty) as qty from (
        select symbol, case side when 'buy' then qty else -qty end as qty from fills
        union all
        select symbol, qty from adoptions)
    group by symbol
"""
# the previous run's last event: a clean stop writes `stop` after its final flush
LAST_EVENT = "select event, run_id from runs where run_id != ? order by id desc limit 1"
NEWEST_ROW = "select wall_ts from {table} order by id desc limit 1"
DAY_START = "select equity from day_start where day = ? order by id desc limit 1"
PEAK = "select max(equity) as peak from equity"
OPERATOR_PNL = "select coalesce(sum(amount), 0.0) as total from operator_pnl"


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    still_working: tuple[str, ...]
    foreign_orders: tuple[str, ...]
    finished_while_away: tuple[str, ...]
    unknown_at_broker: tuple[str, ...]
    positions: tuple[str, ...]
    foreign: tuple[str, ...]
    journal_only: tuple[str, ...]
    equity: float
    book_equity: float
    peak: float
    day_start: str
    crash: str  # empty after a clean stop; else what the journal may have lost

    def lines(self) -> list[str]:
        lines = [
            f"recovered at start-up: broker equity {money(self.equity)}, "
            f"book equity {money(self.book_equity)}",
            f"  drawdown peak {money(self.peak)} (the journal's equity history)",
            f"  {self.day_start}",
        ]
        lines += [f"  {self.crash}"] if self.crash else []
        lines += [f"  position adopted from the broker: {p}" for p in self.positions]
        lines += [f"  NOT the bot's, held for the operator: {p}" for p in self.foreign]
        lines += [f"  the broker holds less than the journal: {p}" for p in self.journal_only]
        lines += [f"  order still working: {o}" for o in self.still_working]
        lines += [f"  open order the journal never sent: {o}" for o in self.foreign_orders]
        lines += [f"  order finished while we were away: {o}" for o in self.finished_while_away]
        lines += [f"  journaled order unknown to the broker: {o}" for o in self.unknown_at_broker]
        return lines

    @property
    def differences(self) -> bool:
        return bool(
            self.finished_while_away
            or self.unknown_at_broker
            or self.foreign
            or self.journal_only
            or self.foreign_orders
            or self.crash
        )


async def _read(parts: BrokerFacing, call: Callable[[], Awaitable[T]], what: str) -> T:
    return await read_at_start(parts.settings(), call, what)


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


async def recover(parts: BrokerFacing) -> RecoveryReport:
    crash = await _crash_note(parts)
    working, finished, unknown = await _orders(parts)
    open_orders = await _read(parts, parts.broker.open_orders, "Alpaca open orders")
    watch_foreign_orders(parts)
    foreign_orders = []
    for listed in _foreign(parts, open_orders):
        coid = listed.client_order_id  # looked up by id: the broker then follows it like ours
        found = await _read(parts, partial(parts.broker.get_order, coid), f"Alpaca order {coid}")
        foreign_orders.append(track_foreign(parts, found or listed))
    await parts.journal.aflush()  # the fills found above count in the expected positions
    expected = {
        str(row["symbol"]): int(row["qty"])  # type: ignore[call-overload]
        for row in await parts.journal.aquery(EXPECTED_POSITIONS)
    }
    at_broker = await _read(parts, parts.broker.positions, "Alpaca positions")
    held, foreign, journal_only = _positions(parts, at_broker, expected)
    account = await _read(parts, parts.broker.account, "Alpaca account")
    book = parts.book
    operator_pnl = await parts.journal.aquery(OPERATOR_PNL)
    book.restore_operator_pnl(float(operator_pnl[0]["total"]))  # type: ignore[arg-type]
    day = trading_date(parts.clock.now())
    rows = await parts.journal.aquery(DAY_START, (day,))
    if rows:
        book.restore_day(day, float(rows[0]["equity"]))  # type: ignore[arg-type]
        day_start = f"day {day} started at {money(book.day_start_equity())} (journaled earlier)"
    else:
        book.start_day(day)
        day_start = f"day {day} starts at {money(book.day_start_equity())}"
    peak_rows = await parts.journal.aquery(PEAK)
    journal_peak = peak_rows[0]["peak"] if peak_rows else None
    book.rebase_peak(float(journal_peak) if journal_peak is not None else 0.0)  # type: ignore[arg-type]
    return RecoveryReport(
        tuple(working),
        tuple(foreign_orders),
        tuple(finished),
        tuple(unknown),
        tuple(held),
        tuple(foreign),
        tuple(journal_only),
        account.equity,
        book.equity(),
        book.peak_equity,
        day_start,
        crash,
    )


async def _crash_note(parts: BrokerFacing) -> str:
    """After a run that did not stop cleanly, what the journal may lack: the rows of its last
    batch window. The differences with the broker below this line are what they held."""
    journal = parts.journal
    rows = await journal.aquery(LAST_EVENT, (journal.run_id,))
    if not rows or rows[0]["event"] == "stop":
        return ""
    newest = []
    for table in ("orders", "order_updates", "fills", "runs"):
        found = await journal.aquery(NEWEST_ROW.format(table=table))
        if found and found[0]["wall_ts"] is not None:
            newest.append(float(found[0]["wall_ts"]))  # type: ignore[arg-type]
    when = market_time(max(newest), "%Y-%m-%d %H:%M:%S") if newest else "?"
    return (
        f"the last run ({rows[0]['run_id']}) did not stop cleanly: its newest journal row is from "
        f"{when}; rows of its last batch window may be lost, and any difference with the broker "
        "listed here is what they held"
    )


async def _orders(parts: BrokerFacing) -> tuple[list[str], list[str], list[str]]:
    """Look up every journaled order that never reached a final state."""
    broker, book = parts.broker, parts.book
    working, finished, unknown = [], [], []
    seen: set[str] = set()
    for row in await parts.journal.aquery(UNFINISHED):
        request = _request(row)
        if request.client_order_id in seen:
            continue
        seen.add(request.client_order_id)
        coid = request.client_order_id
        update = await _read(parts, partial(broker.get_order, coid), f"Alpaca order {coid}")
        label = f"{request.client_order_id} ({request.side} {request.qty} {request.symbol})"
        if update is None:
            unknown.append(label)
            continue
        parts.journal.record(
            "order_updates",
            {
                "client_order_id": update.client_order_id,
                "status": update.status.value,
                "filled_qty": update.filled_qty,
                "avg_price": update.filled_avg_price,
                "reason": "found at start-up",
            },
        )
        if request.intent is not Intent.FOREIGN:  # the operator's fills are not the bot's
            await _journal_missed_fill(parts, request, update.filled_qty, update.filled_avg_price)
        if update.status.is_final:
            finished.append(f"{label}: {update.status}, filled {update.filled_qty}")
        else:
            book.adopt_order(request, update)
            working.append(f"{label}: {update.status}")
    return working, finished, unknown


async def _journal_missed_fill(
    parts: BrokerFacing, request: OrderRequest, filled: int, avg: float | None
) -> None:
    """Shares the broker filled while we were away become one fills row (P&L, slippage)."""
    rows = await parts.journal.aquery(JOURNALED_FILLS, (request.client_order_id,))
    known_qty = int(rows[0]["qty"])  # type: ignore[call-overload]
    known_notional = float(rows[0]["notional"])  # type: ignore[arg-type]
    missed = filled - known_qty
    if missed <= 0 or avg is None:
        return
    price = (avg * filled - known_notional) / missed
    decision = request.decision_price
    parts.journal.record(
        "fills",
        {
            "client_order_id": request.client_order_id,
            "symbol": request.symbol,
            "side": request.side.value,
            "qty": missed,
            "price": price,
            "commission": missed * parts.settings().number("broker.commission_per_share"),
            "slippage_bps": request.side.sign * (price - decision) / decision * 1e4,
            "decision_price": decision,
        },
    )


def _foreign(parts: BrokerFacing, open_orders: list[OrderUpdate]) -> list[OrderUpdate]:
    """Open orders at the broker that the journal never sent (so the book does not track)."""
    return [o for o in open_orders if parts.book.order(o.client_order_id) is None]


def _positions(
    parts: BrokerFacing, at_broker: list[BrokerPosition], expected: dict[str, int]
) -> tuple[list[str], list[str], list[str]]:
    """The broker's positions into the book: the part the journal accounts for is the bot's,
    the rest is held for the operator (an incident each, with an Adopt button)."""
    book, now = parts.book, parts.clock.now()
    configured = set(parts.symbols)
    held, foreign, journal_only = [], [], []
    for position in at_broker:
        symbol, qty, avg = position.symbol, position.qty, position.avg_price
        book.mark(symbol, position.market_price, now)
        mine = expected.get(symbol, 0) if symbol in configured else 0
        same_side = mine * qty > 0
        ours = qty if same_side and abs(mine) >= abs(qty) else (mine if same_side else 0)
        if ours:
            book.restore_position(symbol, ours, avg)
            held.append(f"{symbol} {ours:+d} @ {avg:.2f}")
        if abs(mine) > abs(ours):
            journal_only.append(f"{symbol}: journal {mine:+d}, broker {qty:+d}")
        if ours == qty:
            continue
        extra = qty - ours
        book.hold_foreign(symbol, extra, avg, paid=True)
        foreign.append(f"{symbol} {extra:+d} @ {avg:.2f} (broker {qty:+d}, journal {mine:+d})")
        parts.alert(
            f"{INCIDENT_PREFIX}{symbol}",
            "critical",
            _foreign_message(symbol, extra, mine, symbol in configured),
        )
    broker_symbols = {p.symbol for p in at_broker}
    journal_only += [
        f"{symbol}: journal {qty:+d}, broker none"
        for symbol, qty in sorted(expected.items())
        if qty and symbol in configured and symbol not in broker_symbols
    ]
    return held, foreign, journal_only


def _foreign_message(symbol: str, extra: int, journal_qty: int, configured: bool) -> str:
    if not configured:
        return (
            f"{symbol}: the broker holds {extra:+d} shares of a symbol the bot does not trade; "
            "counted in exposure; a kill closes it"
        )
    return (
        f"{symbol}: the broker holds {extra:+d} shares the journal never saw (the bot's: "
        f"{journal_qty:+d}); the strategy does not trade {symbol} until you adopt them "
        f"(`/trade adopt {symbol}`); they count in exposure limits"
    )
