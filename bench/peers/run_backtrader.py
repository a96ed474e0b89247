"""backtrader 1.9: one Cerebro, five data feeds, one account."""

from __future__ import annotations

import sys

import backtrader as bt
from common import CASH, ENTRY_Z, EXIT_Z, OFFSET, frames, report, size

DEVIATION = (
    "limits fill on touch anywhere in the next bar (high/low), not only at its open; an unfilled "
    "entry is canceled after one bar (no IOC); no risk gate"
)


class MeanReversion(bt.Strategy):
    def __init__(self) -> None:
        self.working: dict[str, bt.Order] = {}
        self.closed = 0

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.isclosed:
            self.closed += 1

    def next(self) -> None:
        for data in self.datas:
            name = data._name
            order = self.working.pop(name, None)
            if order is not None and order.alive():
                self.cancel(order)
                continue
            z = data.z[0]
            held = self.getposition(data).size
            if held == 0 and abs(z) > ENTRY_Z:
                qty = size(self.broker.getvalue(), data.vol[0], data.close[0])
                buy = z < 0
                limit = data.close[0] * (1 - OFFSET if buy else 1 + OFFSET)
                place = self.buy if buy else self.sell
                self.working[name] = place(data, size=qty, exectype=bt.Order.Limit, price=limit)
            elif held != 0 and abs(z) < EXIT_Z:
                self.working[name] = self.close(data)


class Feed(bt.feeds.PandasData):
    lines = ("z", "vol")
    params = (("z", -1), ("vol", -1))


def main(path: str) -> None:
    data = frames(path)
    cerebro = bt.Cerebro(stdstats=False)
    for symbol, df in data.items():
        cerebro.adddata(Feed(dataname=df.fillna(0.0)), name=symbol)
    cerebro.addstrategy(MeanReversion)
    cerebro.broker.setcash(CASH)
    strategy = cerebro.run()[0]
    bars = sum(len(df) for df in data.values())
    report(bars, strategy.closed, cerebro.broker.getvalue(), DEVIATION)


if __name__ == "__main__":
    main(sys.argv[1])
