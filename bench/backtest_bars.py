"""The bars every backtest benchmark runs on: the shipped config's 5 symbols x 100,000 minute
bars, written once as CSV (the format `tradebot backtest --data` reads) and reused."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Mapping
from pathlib import Path

import yaml

from bench.common import SEED, START
from strategy.venues.bars import COLUMNS, synthetic_bars

BARS_PER_SYMBOL = 100_000
REPO = Path(__file__).resolve().parent.parent


def config_symbols() -> tuple[str, ...]:
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    return tuple(data["strategy"]["symbols"])


def bars_file(bars_per_symbol: int = BARS_PER_SYMBOL) -> Path:
    """Seeded, continuous minutes from 2026-01-02 09:30 New York; made on first use."""
    names = config_symbols()
    path = Path(tempfile.gettempdir()) / f"tradebot-bench-{len(names)}x{bars_per_symbol}.csv"
    if not path.is_file():
        partial = path.with_suffix(".part")
        with partial.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for b in synthetic_bars(names, SEED, START, count=bars_per_symbol):
                writer.writerow([int(b.ts), b.symbol, b.open, b.high, b.low, b.close, b.volume])
        partial.replace(path)
    return path


def config_file(folder: Path, strategy: Mapping[str, object] | None = None) -> Path:
    """The shipped config.yaml with its journal in `folder` (a benchmark leaves none behind)
    and the `strategy` section's keys changed as given."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["journal"]["path"] = str(folder / "journal.db")
    data["strategy"].update(strategy or {})
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
