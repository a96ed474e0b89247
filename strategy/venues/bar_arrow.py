"""The columnar reader of bar files (pyarrow): several times faster than reading row by row.
It reads only plain files; anything it would have to judge differently from the row reader
(empty or odd values, ISO timestamps with fractions, a ragged row) it leaves to that reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from strategy.venues.bar_columns import COLUMNS, BarColumns


def read_columnar(path: Path) -> BarColumns | None:
    """The file's bars as parsed, unchecked; None: let the row-by-row reader decide."""
    import pyarrow as pa  # only a backtest or a replay pays for importing it
    import pyarrow.csv as pa_csv

    try:
        table = pa_csv.read_csv(path)  # a UTF-8 BOM is skipped, as the row reader skips it
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
    """Epoch seconds, or ISO 8601 whole seconds (naive = UTC, as the row reader reads them)."""
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


def lines_of_rows(path: Path, rows: int) -> np.ndarray | None:
    """Each row's line number, when each row is one line after the header (no blank lines, no
    quoted line breaks): the line count says so. None: only the row reader knows them."""
    data = path.read_bytes()
    breaks = data.count(b"\n")
    ends = data.endswith(b"\n")
    if breaks != rows + (1 if ends else 0) or b"\r" in data.replace(b"\r\n", b""):
        return None
    return np.arange(2, rows + 2)
