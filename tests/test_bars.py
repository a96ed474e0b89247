"""Bar sources: seeded synthetic bars that make the strategy trade, and CSV replay errors."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from strategy.venues.bars import BarDataError, csv_bars, synthetic_bars

SYMBOLS = ("SPY", "QQQ", "IWM")


def test_synthetic_bars_are_deterministic_per_seed_and_well_formed() -> None:
    """Same seed, same bars; round-robin timestamps; high/low bound open and close."""
    a = list(synthetic_bars(SYMBOLS, seed=5, start_ts=0.0, count=50))
    b = list(synthetic_bars(SYMBOLS, seed=5, start_ts=0.0, count=50))
    assert a == b and len(a) == 150
    assert [x.symbol for x in a[:3]] == list(SYMBOLS)
    assert a[3].ts == 60.0
    for x in a:
        assert x.low <= min(x.open, x.close) and x.high >= max(x.open, x.close) and x.volume > 0
    assert list(synthetic_bars(SYMBOLS, seed=6, start_ts=0.0, count=5)) != a[:15]


def test_synthetic_z_scores_cross_the_entry_threshold_regularly() -> None:
    """Over 500 bars per symbol, |z| > 2 happens several times but not most of the time."""
    closes = np.array([b.close for b in islice(synthetic_bars(["SPY"], seed=2, start_ts=0.0), 500)])
    returns = np.diff(np.log(closes))
    crossings = 0
    for i in range(19, len(returns)):
        window = returns[i - 18 : i + 1]
        z = (window[-1] - window.mean()) / (window.std() + 1e-8)
        crossings += abs(z) > 2
    assert 5 <= crossings <= 100


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bars.csv"
    path.write_text(text)
    return path


def test_csv_replays_iso_and_epoch_timestamps(tmp_path: Path) -> None:
    """ISO 8601 (Z) and epoch seconds both parse; symbols are upper-cased."""
    path = write(
        tmp_path,
        "timestamp,symbol,open,high,low,close,volume\n"
        "2026-01-02T14:30:00Z,spy,100,101,99,100.5,1000\n"
        "1767364260,SPY,100.5,101,100,100.8,900\n",
    )
    bars = list(csv_bars(path))
    assert [b.ts for b in bars] == [1_767_364_200.0, 1_767_364_260.0]
    assert bars[0].symbol == "SPY" and bars[1].close == 100.8


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("timestamp,symbol,open,high,low,close\n", "missing column(s) volume"),
        (
            "timestamp,symbol,open,high,low,close,volume\n1,SPY,1,1,1,abc,1\n",
            "line 2: close 'abc' is not a number",
        ),
        (
            "timestamp,symbol,open,high,low,close,volume\n1,SPY,1,1,1,0,1\n",
            "line 2: close '0' must be positive",
        ),
        (
            "timestamp,symbol,open,high,low,close,volume\n60,SPY,1,1,1,1,1\n0,SPY,1,1,1,1,1\n",
            "line 3: timestamp goes back in time",
        ),
        (
            "timestamp,symbol,open,high,low,close,volume\nyesterday,SPY,1,1,1,1,1\n",
            "line 2: timestamp 'yesterday'",
        ),
    ],
)
def test_csv_errors_name_the_file_line_and_value(tmp_path: Path, body: str, message: str) -> None:
    """Each malformed file stops with a message an operator can act on."""
    with pytest.raises(BarDataError) as error:
        list(csv_bars(write(tmp_path, body)))
    assert str(error.value).startswith("bars.csv")
    assert message in str(error.value)
