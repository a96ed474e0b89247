"""Bar sources: seeded synthetic bars that make the strategy trade, and bar files checked as a
careful quant would (the one loader of backtest --data and run --data)."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from strategy.venues.bars import BarDataError, LoadedBars, load_bars, synthetic_bars

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
    bars = list(load_bars(path).bars)
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
            "line 2: close 0 must be a positive number",
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
        load_bars(write(tmp_path, body))
    assert str(error.value).startswith("bars.csv")
    assert message in str(error.value)


HEADER = "timestamp,symbol,open,high,low,close,volume\n"
SPY_0930 = "1767364200,SPY,100,101,99,100.5,1000\n"
SPY_0931 = "1767364260,SPY,100.5,101,100,100.8,900\n"


def loaded_or_refused(tmp_path: Path, body: str) -> tuple[LoadedBars | None, str]:
    try:
        return load_bars(write(tmp_path, body)), ""
    except BarDataError as exc:
        return None, str(exc)


def test_a_utf8_bom_from_excel_is_accepted(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" starts with a BOM: the header is still read, the bars are the same."""
    plain, _ = loaded_or_refused(tmp_path, HEADER + SPY_0930 + SPY_0931)
    bom, refused = loaded_or_refused(tmp_path, "\ufeff" + HEADER + SPY_0930 + SPY_0931)
    assert refused == ""
    assert plain is not None and bom is not None
    assert list(bom.bars) == list(plain.bars) and len(bom.bars) == 2 and bom.warnings == ()


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        (
            SPY_0930 + "1767364260,SPY,100,99,101,100,10\n",
            "bars.csv line 3: high 99 is below low 101",
        ),
        (
            SPY_0930 + "1767364260,SPY,-1,101,99,100,10\n",
            "bars.csv line 3: open -1 must be a positive number",
        ),
        (
            SPY_0930 + "1767364260,SPY,100,101,99,inf,10\n",
            "bars.csv line 3: close inf must be a positive number",
        ),
        (
            SPY_0930 + "1767364260,SPY,100,101,99,100,-5\n",
            "bars.csv line 3: volume -5 must be a number >= 0",
        ),
        (
            SPY_0930 + "1767364260,SPY,100,101,99,100,10,extra\n",
            "bars.csv line 3: 8 fields where the header has 7",
        ),
        (SPY_0930 + "1767364260,SPY,100,101,99,100\n", "bars.csv line 3: 6 fields where"),
        (
            SPY_0930 + "1767364200,SPY,100,101,99,100.4,1000\n",
            "bars.csv line 3: SPY at the same time as line 2, with other prices or volume",
        ),
    ],
)
def test_a_row_a_careful_quant_would_not_trust_refuses_the_file(
    tmp_path: Path, rows: str, says: str
) -> None:
    """Inverted high/low, a price <= 0 or not finite, a negative volume, a ragged row, two
    different bars for one symbol and time: refused, naming the line and what is wrong."""
    loaded, refused = loaded_or_refused(tmp_path, HEADER + rows)
    assert loaded is None
    assert refused.startswith(says)


QQQ_0930 = "1767364200,QQQ,400,401,399,400.5,800\n"


@pytest.mark.parametrize(
    ("rows", "kept", "said"),
    [
        (SPY_0930 + SPY_0930 + SPY_0931, ["SPY", "SPY"], "line 3: repeats line 2"),
        (
            SPY_0930 + QQQ_0930 + SPY_0930 + SPY_0931,
            ["SPY", "QQQ", "SPY"],
            "line 4: repeats line 2",
        ),
    ],
)
def test_an_identical_repeat_is_dropped_with_a_warning(
    tmp_path: Path, rows: str, kept: list[str], said: str
) -> None:
    """The same bar twice (files pasted together), next to it or further down its minute:
    the repeat is left out and named."""
    loaded, refused = loaded_or_refused(tmp_path, HEADER + rows)
    assert refused == "" and loaded is not None
    assert [b.symbol for b in loaded.bars] == kept
    assert loaded.warnings == (
        f"bars.csv: 1 duplicate bar(s) dropped (same symbol, time and values); {said}",
    )


def test_an_open_or_close_outside_the_range_is_kept_with_a_warning(tmp_path: Path) -> None:
    """Some feeds print an open or close outside the bar's high..low (odd lots, late prints):
    kept, as fills use the open, and named."""
    rows = SPY_0930 + "1767364260,SPY,100.5,101,100,101.2,900\n"
    loaded, refused = loaded_or_refused(tmp_path, HEADER + rows)
    assert refused == "" and loaded is not None and len(loaded.bars) == 2
    assert loaded.warnings == (
        "bars.csv: 1 bar(s) with the open or close outside low..high, kept as they are; "
        "line 3: close 101.2 is above high 101",
    )


def test_many_bad_rows_are_counted_and_the_first_few_named(tmp_path: Path) -> None:
    """Thousands of bad rows give one line: how many, and the first five."""
    rows = "".join(f"{1767364200 + 60 * i},SPY,100,99,101,100,10\n" for i in range(3000))
    loaded, refused = loaded_or_refused(tmp_path, HEADER + "1767364140,SPY,x,1,1,1,1\n" + rows)
    assert loaded is None
    assert refused == (
        "bars.csv: 3,001 bad rows; line 2: open 'x' is not a number; "
        + "; ".join(f"line {n}: high 99 is below low 101" for n in range(3, 7))
        + "; and 2,996 more"
    )


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    """A blank line is skipped, and the lines named are still the file's own."""
    rows = SPY_0930 + "\n\n" + "1767364260,SPY,100,101,99,0,10\n"
    _, refused = loaded_or_refused(tmp_path, HEADER + rows)
    assert refused == "bars.csv line 5: close 0 must be a positive number"


@pytest.mark.parametrize("columnar", [True, False])
def test_text_not_in_utf8_matters_only_in_the_columns_used(tmp_path: Path, columnar: bool) -> None:
    """Latin-1 in a column of its own is read past; in the symbol, the row is named (never a
    UnicodeDecodeError)."""
    path = tmp_path / "bars.csv"
    header = HEADER.replace("volume", "volume,note")
    path.write_bytes((header + "1767364200,SPY,100,101,99,100,10,caf\xe9\n").encode("latin-1"))
    assert len(load_bars(path, columnar=columnar).bars) == 1
    path.write_bytes((header + "1767364200,\xc9TF,100,101,99,100,10,x\n").encode("latin-1"))
    with pytest.raises(BarDataError, match=r"bars\.csv line 2: symbol '\\udcc9TF' is not UTF-8"):
        load_bars(path, columnar=columnar)
