"""Bar sources for the simulator: seeded synthetic minute bars, or a CSV replay."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from strategy.types import Bar

COLUMNS = ("timestamp", "symbol", "open", "high", "low", "close", "volume")
CHUNK = 256  # timestamps generated per numpy batch
FAIR_SIGMA = 0.0003  # slow random walk of the fair value, per bar (3 bps)
DEVIATION_PHI = 0.85  # the mean-reverting deviation keeps 85% of itself per bar
DEVIATION_SIGMA = 0.0006
SHOCK_PROB = 0.01
SHOCK_SIGMA = 0.004
GAP_SIGMA = 0.0012  # next open vs previous close
WICK_SIGMA = 0.0004


class BarDataError(ValueError):
    """A bar file that cannot be replayed; the message names the file, line and column."""


def synthetic_bars(
    symbols: Sequence[str],
    seed: int,
    start_ts: float,
    bar_sec: int = 60,
    count: int | None = None,
    base_prices: Mapping[str, float] | None = None,
) -> Iterator[Bar]:
    """Round-robin bars (every symbol at t, then t + bar_sec) whose log price is a slow random
    walk plus an Ornstein-Uhlenbeck deviation with occasional shocks, so that z-scores of the
    latest return cross +-2 regularly and revert. `count` = bars per symbol (None = endless)."""
    rng = np.random.default_rng(seed)
    n = len(symbols)
    base = base_prices or {}
    fair = np.log([base.get(s, float(rng.uniform(50, 500))) for s in symbols])
    deviation = np.zeros(n)
    close = np.exp(fair)
    emitted = 0
    ts = start_ts
    while count is None or emitted < count:
        k = CHUNK if count is None else min(CHUNK, count - emitted)
        fair_steps = rng.normal(0.0, FAIR_SIGMA, (k, n))
        noise = rng.normal(0.0, DEVIATION_SIGMA, (k, n))
        shocks = rng.normal(0.0, SHOCK_SIGMA, (k, n)) * (rng.random((k, n)) < SHOCK_PROB)
        gaps = np.exp(rng.normal(0.0, GAP_SIGMA, (k, n)))
        wicks = np.exp(np.abs(rng.normal(0.0, WICK_SIGMA, (k, n, 2))))
        volumes = rng.integers(100, 5000, (k, n))
        for i in range(k):
            fair += fair_steps[i]
            deviation = deviation * DEVIATION_PHI + noise[i] + shocks[i]
            opens = close * gaps[i]
            close = np.exp(fair + deviation)
            for j, symbol in enumerate(symbols):
                o, c = float(opens[j]), float(close[j])
                yield Bar(
                    symbol,
                    ts,
                    round(o, 4),
                    round(max(o, c) * wicks[i, j, 0], 4),
                    round(min(o, c) / wicks[i, j, 1], 4),
                    round(c, 4),
                    float(volumes[i, j]),
                )
            ts += bar_sec
        emitted += k


def _timestamp(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def csv_bars(path: str | Path) -> Iterator[Bar]:
    """Bars from a CSV with the header timestamp,symbol,open,high,low,close,volume.
    Timestamps are ISO 8601 (naive = UTC) or epoch seconds, in non-decreasing order."""
    path = Path(path)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise BarDataError(f"{path.name}: missing column(s) {', '.join(missing)}")
        previous = -math.inf
        for row in reader:
            line = reader.line_num
            try:
                ts = _timestamp(row["timestamp"])
            except ValueError:
                raise BarDataError(
                    f"{path.name} line {line}: timestamp {row['timestamp']!r} is not ISO 8601 "
                    "or epoch seconds"
                ) from None
            if ts < previous:
                raise BarDataError(f"{path.name} line {line}: timestamp goes back in time")
            previous = ts
            values = {}
            for column in COLUMNS[2:]:
                try:
                    values[column] = float(row[column])
                except (TypeError, ValueError):
                    raise BarDataError(
                        f"{path.name} line {line}: {column} {row[column]!r} is not a number"
                    ) from None
                if column != "volume" and not values[column] > 0:
                    raise BarDataError(
                        f"{path.name} line {line}: {column} {row[column]!r} must be positive"
                    )
            symbol = (row["symbol"] or "").strip().upper()
            if not symbol:
                raise BarDataError(f"{path.name} line {line}: symbol is empty")
            yield Bar(
                symbol,
                ts,
                values["open"],
                values["high"],
                values["low"],
                values["close"],
                values["volume"],
            )
