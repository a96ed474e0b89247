"""vectorbt 1.2: signals for all bars at once, one portfolio sharing cash across symbols."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import vectorbt as vbt
from common import CASH, ENTRY_Z, EXIT_Z, MAX_QTY, OFFSET, RISK_PCT, frames, report

DEVIATION = (
    "vectorized: sizes from the starting cash, not the equity at the time; IOC entries modeled "
    "as a signal only when the next open is marketable; no risk gate, no cooldown"
)


def main(path: str) -> None:
    data = frames(path)

    def wide(column: str) -> pd.DataFrame:
        return pd.DataFrame({s: df[column] for s, df in data.items()})

    close, open_, z, vol = wide("close"), wide("open"), wide("z"), wide("vol")
    prev_close, prev_z, prev_vol = close.shift(), z.shift(), vol.shift()
    long_in = (prev_z < -ENTRY_Z) & (open_ <= prev_close * (1 - OFFSET))
    short_in = (prev_z > ENTRY_Z) & (open_ >= prev_close * (1 + OFFSET))
    out = prev_z.abs() < EXIT_Z
    qty = np.floor(CASH * RISK_PCT / (2 * prev_vol + 1e-6) / prev_close).clip(1, MAX_QTY)
    portfolio = vbt.Portfolio.from_signals(
        close,
        entries=long_in,
        exits=out,
        short_entries=short_in,
        short_exits=out,
        price=open_,
        size=qty.fillna(0.0),
        size_type="amount",
        init_cash=CASH,
        cash_sharing=True,
        group_by=True,
        freq="1min",
    )
    trades = int(portfolio.trades.count().sum())
    report(close.size, trades, float(portfolio.final_value()), DEVIATION)


if __name__ == "__main__":
    main(sys.argv[1])
