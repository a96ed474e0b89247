"""The price at which the book adopts an operator's shares: the market price, so adopting moves
no equity and the day's loss budget and the drawdown see only what happens afterwards.

"The market price", in order of preference:
  1. the book's own mark, if no older than risk.stale_bar_sec (the price equity uses);
  2. the broker's current price for the position, read with it (the command and the button);
     the book then marks the symbol at it;
  3. the book's last mark, however old (the kill, which adopts before it reads anything);
  4. the broker's average price: no price at all, so the shares' gain or loss until now
     counts as the book's (the adoption's journaled source says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from strategy.book import Book
from strategy.foreign_holdings import gain_until_adoption

FRESH_MARK = "the book's last price"
BROKER_PRICE = "the broker's current price"
STALE_MARK = "the last price seen, {age:.0f}s old"
AT_COST = "the broker's average: no market price known"


@dataclass(frozen=True, slots=True)
class AdoptionPrice:
    price: float
    source: str  # which of the above, for the confirmation and the journal

    @property
    def from_broker(self) -> bool:
        return self.source == BROKER_PRICE


@dataclass(frozen=True, slots=True)
class Adopted:
    price: AdoptionPrice
    added: int  # the shares the book bought
    operator_pnl: float  # their gain until now: the operator's


def operator_gain(
    book: Book, symbol: str, broker_qty: int, broker_avg: float, price: float
) -> float:
    """What adopting at `price` would leave as the operator's gain (Book.adopt's figure)."""
    pos = book.position(symbol)
    held, avg = (pos.qty, pos.avg_price) if pos is not None else (0, 0.0)
    return gain_until_adoption(held, avg, broker_qty, broker_avg, price)


def adoption_price(
    book: Book,
    symbol: str,
    now: float,
    fresh_sec: float,
    broker_avg: float,
    broker_price: float | None = None,
) -> AdoptionPrice:
    mark = book.last_price(symbol)
    if mark is not None and now - mark[1] <= fresh_sec:
        return AdoptionPrice(mark[0], FRESH_MARK)
    if broker_price is not None:
        return AdoptionPrice(broker_price, BROKER_PRICE)
    if mark is not None:
        return AdoptionPrice(mark[0], STALE_MARK.format(age=now - mark[1]))
    return AdoptionPrice(broker_avg, AT_COST)
