"""Shared by the peer scripts (they run in bench/.peers-venv, not the project's venv): the
bars file as one DataFrame per symbol, and the strategy's statistics and rules, as
tradebot's engine applies them (config.yaml defaults)."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd

LOOKBACK, VOL_WINDOW = 20, 10
ENTRY_Z, EXIT_Z, OFFSET = 2.0, 0.5, 0.001
GRID_ENTRY_Z = (1.5, 1.75, 2.0, 2.25, 2.5)  # `--grid entry_z=1.5:2.5:5 exit_z=0.25:0.75:5`
GRID_EXIT_Z = (0.25, 0.375, 0.5, 0.625, 0.75)
RISK_PCT, MAX_QTY, CASH = 0.01, 100, 100_000.0
ANNUALIZATION = math.sqrt(252 * 390)
OHLCV = ("open", "high", "low", "close", "volume")


def frames(path: str) -> dict[str, pd.DataFrame]:
    """symbol -> OHLCV with a UTC DatetimeIndex and columns z and vol added."""
    bars = pd.read_csv(path)
    out = {}
    for symbol, df in bars.groupby("symbol", sort=False):
        df = df.set_index(pd.to_datetime(df["timestamp"], unit="s", utc=True))
        returns = np.log(df["close"] / df["close"].shift())
        window = returns.rolling(LOOKBACK - 1)
        df["z"] = (returns - window.mean()) / (window.std(ddof=0) + 1e-8)
        df["vol"] = returns.rolling(VOL_WINDOW).std(ddof=0) * ANNUALIZATION
        out[str(symbol)] = df[["open", "high", "low", "close", "volume", "z", "vol"]]
    return out


def size(equity: float, vol: float, price: float) -> int:
    if not (vol > 0 and price > 0 and equity > 0):
        return 0
    return max(1, min(math.floor(equity * RISK_PCT / (2 * vol + 1e-6) / price), MAX_QTY))


def report(bars: int, trades: int, final_equity: float, deviation: str) -> None:
    json.dump(
        {"bars": bars, "trades": trades, "final_equity": final_equity, "deviation": deviation},
        sys.stdout,
    )
