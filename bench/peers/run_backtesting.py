"""backtesting.py 0.6: one instrument per Backtest, so one run per symbol."""

from __future__ import annotations

import sys

import numpy as np
from backtesting import Backtest, Strategy
from common import CASH, ENTRY_Z, EXIT_Z, OFFSET, OHLCV, frames, report, size

DEVIATION = (
    "one instrument per run: each symbol trades its own account (cash / 5), no shared limits; "
    "limits fill on touch (high/low); an unfilled entry is canceled after one bar"
)


class MeanReversion(Strategy):
    def init(self) -> None:
        self.z = self.I(lambda: np.asarray(self.data.df["z"]), name="z", plot=False)
        self.vol = self.I(lambda: np.asarray(self.data.df["vol"]), name="vol", plot=False)

    def next(self) -> None:
        for order in list(self.orders):
            order.cancel()
        z, close = self.z[-1], self.data.Close[-1]
        if not self.position and abs(z) > ENTRY_Z:
            qty = size(self.equity, self.vol[-1], close)
            if qty > 0 and z < 0:
                self.buy(size=qty, limit=close * (1 - OFFSET))
            elif qty > 0:
                self.sell(size=qty, limit=close * (1 + OFFSET))
        elif self.position and abs(z) < EXIT_Z:
            self.position.close()


def main(path: str) -> None:
    data = frames(path)
    trades, equity = 0, 0.0
    for df in data.values():
        frame = df.rename(columns={c: c.capitalize() for c in OHLCV}).tz_localize(None)
        stats = Backtest(frame, MeanReversion, cash=CASH / len(data), finalize_trades=True).run()
        trades += int(stats["# Trades"])
        equity += float(stats["Equity Final [$]"])
    report(sum(len(df) for df in data.values()), trades, equity, DEVIATION)


if __name__ == "__main__":
    main(sys.argv[1])
