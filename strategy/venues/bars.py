"""Bar sources for the simulator: seeded synthetic minute bars, or a CSV replay (row by row,
or whole and columnar for a backtest)."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from strategy.types import Bar
from strategy.venues.bar_columns import BarColumns

COLUMNS = ("timestamp", "symbol", "open", "high", "low", "close", "volume")
PRICES = ("open", "high", "low", "close")
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


def read_bars(path: str | Path) -> BarColumns:
    """The whole file, checked, as columns. A plain file is read by a columnar reader
    (pyarrow, several times faster); anything it would have to judge differently (empty or
    odd values, ISO timestamps with fractions, a bad row) is read by `csv_bars`, so a file is
    accepted or refused with the same message either way."""
    columns = _read_columnar(Path(path))
    return columns if columns is not None else BarColumns.of(csv_bars(path))


def _read_columnar(path: Path) -> BarColumns | None:
    """None: let the row-by-row reader decide."""
    import pyarrow as pa  # only a backtest pays for importing it
    import pyarrow.csv as pa_csv

    with path.open("rb") as handle:
        if handle.read(3) == b"\xef\xbb\xbf":  # csv_bars would not strip a BOM
            return None
    try:
        table = pa_csv.read_csv(path)
    except (pa.ArrowException, UnicodeDecodeError):
        return None
    names = table.column_names
    if len(set(names)) != len(names) or any(c not in names for c in COLUMNS):
        return None
    if table.num_rows == 0 or any(table.column(c).null_count for c in COLUMNS):
        return None
    ts = _seconds(table.column("timestamp"))
    values = {c: _floats(table.column(c)) for c in COLUMNS[2:]}
    if ts is None or any(v is None for v in values.values()):
        return None
    if np.isnan(ts).any() or (np.diff(ts) < 0).any():
        return None
    if any(not (values[c] > 0).all() for c in PRICES):  # NaN fails too
        return None
    symbols = _symbols(table.column("symbol"))
    if symbols is None:
        return None
    names_, code = symbols
    return BarColumns(names_, code, ts, *(values[c] for c in COLUMNS[2:]))  # type: ignore[arg-type]


def _floats(column: object) -> np.ndarray | None:
    import pyarrow as pa

    kind = column.type  # type: ignore[attr-defined]
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _numpy(column).astype(np.float64)
    return None


def _numpy(column: object) -> np.ndarray:
    """A null-free primitive column as one numpy array. Read from the buffers: pyarrow's own
    to_numpy imports pandas, which would cost more than the whole read."""
    chunks = [
        np.frombuffer(
            chunk.buffers()[1],
            dtype=chunk.type.to_pandas_dtype(),
            count=len(chunk),
            offset=chunk.offset * chunk.type.bit_width // 8,
        )
        for chunk in column.chunks  # type: ignore[attr-defined]
    ]
    return np.concatenate(chunks) if chunks else np.empty(0)


def _seconds(column: object) -> np.ndarray | None:
    """Epoch seconds, or ISO 8601 whole seconds (naive = UTC, as `_timestamp` reads them)."""
    import pyarrow as pa

    kind = column.type  # type: ignore[attr-defined]
    if pa.types.is_timestamp(kind) and kind.unit == "s":
        return _numpy(column.cast(pa.int64())).astype(np.float64)  # type: ignore[attr-defined]
    return _floats(column)


def _symbols(column: object) -> tuple[tuple[str, ...], np.ndarray] | None:
    """(distinct symbols, each row's index into them), stripped and upper-cased."""
    import pyarrow as pa

    if not pa.types.is_string(column.type):  # type: ignore[attr-defined]
        return None
    encoded = column.combine_chunks().dictionary_encode()  # type: ignore[attr-defined]
    indices = pa.chunked_array([encoded.indices])
    names: dict[str, int] = {}
    remap = []
    for raw in encoded.dictionary.to_pylist():
        symbol = raw.strip().upper()
        if not symbol:
            return None
        remap.append(names.setdefault(symbol, len(names)))
    code = np.asarray(remap, np.int32)[_numpy(indices)]
    return tuple(names), code
