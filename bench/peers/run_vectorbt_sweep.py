"""vectorbt 1.0, the 5 x 5 grid of entry_z x exit_z as a vectorbt user runs it: every point's
signals side by side as columns, one from_signals call, each point a group sharing its cash."""

from __future__ import annotations

import json
import sys

import pandas as pd
import vectorbt as vbt
from common import CASH, GRID_ENTRY_Z, GRID_EXIT_Z, frames
from run_vectorbt import signals


def main(path: str) -> None:
    data = frames(path)
    columns: dict[str, list[pd.DataFrame]] = {}
    keys = []
    for entry_z in GRID_ENTRY_Z:
        for exit_z in GRID_EXIT_Z:
            found = signals(data, entry_z, exit_z)
            for name, frame in found.items():
                columns.setdefault(name, []).append(frame)
            keys.append((entry_z, exit_z))
    names = ["entry_z", "exit_z"]
    wide = {
        name: pd.concat(frames, axis=1, keys=keys, names=names) for name, frames in columns.items()
    }
    portfolio = vbt.Portfolio.from_signals(
        wide["close"],
        entries=wide["long_in"],
        exits=wide["out"],
        short_entries=wide["short_in"],
        short_exits=wide["out"],
        price=wide["open"],
        size=wide["qty"],
        size_type="amount",
        init_cash=CASH,
        cash_sharing=True,
        group_by=names,
        freq="1min",
    )
    trades = portfolio.trades.count().groupby(level=names).sum()
    final = portfolio.final_value()
    points = [
        {"entry_z": e, "exit_z": x, "trades": int(trades[(e, x)]), "final_equity": final[(e, x)]}
        for e, x in keys
    ]
    json.dump({"points": points}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
