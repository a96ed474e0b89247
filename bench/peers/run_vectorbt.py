"""vectorbt 1.0: signals for all bars at once, one portfolio sharing cash across symbols."""

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


def signals(
    data: dict[str, pd.DataFrame], entry_z: float, exit_z: float
) -> dict[str, pd.DataFrame]:
    """The inputs of from_signals, symbols as columns."""

    def wide(column: str) -> pd.DataFrame:
        return pd.DataFrame({s: df[column] for s, df in data.items()})

    close, open_, z, vol = wide("close"), wide("open"), wide("z"), wide("vol")
    prev_close, prev_z, prev_vol = close.shift(), z.shift(), vol.shift()
    qty = np.floor(CASH * RISK_PCT / (2 * prev_vol + 1e-6) / prev_close).clip(1, MAX_QTY)
    return {
        "close": close,
        "open": open_,
        "long_in": (prev_z < -entry_z) & (open_ <= prev_close * (1 - OFFSET)),
        "short_in": (prev_z > entry_z) & (open_ >= prev_close * (1 + OFFSET)),
        "out": prev_z.abs() < exit_z,
        "qty": qty.fillna(0.0),
    }


def main(path: str) -> None:
    found = signals(frames(path), ENTRY_Z, EXIT_Z)
    close = found["close"]
    portfolio = vbt.Portfolio.from_signals(
        close,
        entries=found["long_in"],
        exits=found["out"],
        short_entries=found["short_in"],
        short_exits=found["out"],
        price=found["open"],
        size=found["qty"],
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
