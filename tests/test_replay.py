"""`tradebot run --data`: a replay on the data's own clock, and a bad file refused before
anything starts, with the same one-line message as `backtest --data`."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import pytest

from bot.venues import build_sim
from ops.backtest import history
from ops.config.settings import load_settings
from strategy.types import Bar
from strategy.venues.bars import COLUMNS, BarDataError, synthetic_bars
from tests.support import write_config
from tests.test_cli import tradebot

SYMBOLS = ["SPY", "QQQ", "IWM"]
OLD_OPEN = 1_709_562_600.0  # 2024-03-04 09:30 New York: long before today


def write_bars(path: Path, bars: Iterable[Bar]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for b in bars:
            writer.writerow([b.ts, b.symbol, b.open, b.high, b.low, b.close, b.volume])
    return path


def history_csv(tmp_path: Path, minutes: int = 390) -> Path:
    return write_bars(tmp_path / "bars.csv", synthetic_bars(SYMBOLS, 3, OLD_OPEN, count=minutes))


def test_the_simulated_clock_starts_at_the_first_bar(tmp_path: Path) -> None:
    """A replay's market time is the data's: the clock starts at the file's first bar."""
    settings = load_settings(write_config(tmp_path, **{"strategy.symbols": SYMBOLS}))
    venue = build_sim(settings, str(history_csv(tmp_path, minutes=5)), 0)
    assert venue.clock.now() == OLD_OPEN


def test_run_data_trades_historical_bars(tmp_path: Path) -> None:
    """Bars from 2024 are traded: entries pass the gate's fresh-price checks in market time."""
    config = write_config(tmp_path, **{"strategy.symbols": SYMBOLS})
    data = history_csv(tmp_path)
    done = tradebot(
        "run", "--config", str(config), "--data", str(data), "--speed", "0", "--duration", "4"
    )
    assert done.returncode == 0, done.stderr
    fills = int(done.stdout.split("fills ")[1].split()[0])
    assert fills > 0, done.stdout
    assert "s old" not in done.stderr  # no "reference price ... is N s old" refusals


def _rows() -> list[list[object]]:
    bars = list(synthetic_bars(SYMBOLS, 3, OLD_OPEN, count=3))
    return [[b.ts, b.symbol, b.open, b.high, b.low, b.close, b.volume] for b in bars]


def _write(path: Path, header: Iterable[str], rows: Iterable[Iterable[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _missing_column(tmp_path: Path) -> Path:
    return _write(tmp_path / "bad.csv", COLUMNS[:-1], [r[:-1] for r in _rows()])


def _bad_number(tmp_path: Path) -> Path:
    rows = _rows()
    rows[4][5] = "12,5"
    return _write(tmp_path / "bad.csv", COLUMNS, rows)


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text("")
    return path


def _header_only(tmp_path: Path) -> Path:
    return _write(tmp_path / "bad.csv", COLUMNS, [])


def _sorted_by_symbol(tmp_path: Path) -> Path:
    return _write(tmp_path / "bad.csv", COLUMNS, sorted(_rows(), key=lambda r: str(r[1])))


def _high_below_low(tmp_path: Path) -> Path:
    rows = _rows()
    rows[2][3], rows[2][4] = rows[2][4], rows[2][3]
    return _write(tmp_path / "bad.csv", COLUMNS, rows)


def _two_bars_at_once(tmp_path: Path) -> Path:
    rows = _rows()
    rows.insert(4, [*rows[3][:5], float(rows[3][5]) + 0.01, rows[3][6]])  # type: ignore[arg-type]
    return _write(tmp_path / "bad.csv", COLUMNS, rows)


def _extra_field(tmp_path: Path) -> Path:
    rows = _rows()
    rows[6].append("1")
    return _write(tmp_path / "bad.csv", COLUMNS, rows)


def _backtest_message(path: Path) -> str:
    """What `backtest --data` says about the same file (it reads it with history.from_csv)."""
    try:
        bars = history.from_csv(path).bars
    except BarDataError as exc:
        return f"tradebot: {exc}"
    assert not bars
    return f"tradebot: no bars in csv:{path}"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_missing_column, "missing column(s) volume"),
        (_bad_number, "line 6: close '12,5' is not a number"),
        (_empty, "missing column(s) timestamp"),
        (_header_only, "no bars in csv:"),
        (_sorted_by_symbol, "timestamp goes back in time"),
        (_high_below_low, "bad.csv line 4: high "),
        (_two_bars_at_once, "line 6: SPY at the same time as line 5, with other prices"),
        (_extra_field, "bad.csv line 8: 8 fields where the header has 7"),
    ],
)
def test_run_data_refuses_a_bad_file_before_starting(tmp_path: Path, make, says: str) -> None:
    """Exit 2 with one line naming the row (as backtest --data), no traceback, no journal."""
    config = write_config(tmp_path, **{"strategy.symbols": SYMBOLS})
    data = make(tmp_path)
    done = tradebot("run", "--config", str(config), "--data", str(data), "--duration", "5")
    assert done.returncode == 2
    assert done.stderr.strip() == _backtest_message(data)
    assert says in done.stderr
    journal = tmp_path / "journal.db"
    if journal.exists():  # opened and closed: no incident left for the next run
        with sqlite3.connect(journal) as db:
            tables = {r[0] for r in db.execute("select name from sqlite_master")}
            if "alerts" in tables:
                assert db.execute("select count(*) from alerts").fetchone() == (0,)


def test_run_and_backtest_accept_an_excel_file_and_warn_alike(tmp_path: Path) -> None:
    """A file saved by Excel (UTF-8 BOM) with a bar pasted twice and a close above its high:
    `run --data` and `backtest --data` both use it, without the repeat, and say the same."""
    config = write_config(tmp_path, **{"strategy.symbols": SYMBOLS})
    bars = list(synthetic_bars(SYMBOLS, 3, OLD_OPEN, count=30))
    rows = [[b.ts, b.symbol, b.open, b.high, b.low, b.close, b.volume] for b in bars]
    rows.insert(8, rows[7])  # line 10 repeats line 9
    rows[20][5] = float(rows[20][3]) + 0.5  # type: ignore[arg-type]  # line 22: close > high
    data = tmp_path / "excel.csv"
    with data.open("w", newline="", encoding="utf-8-sig") as handle:
        csv.writer(handle).writerows([COLUMNS, *rows])
    repeat = "excel.csv: 1 duplicate bar(s) dropped (same symbol, time and values); line 10"
    outside = "excel.csv: 1 bar(s) with the open or close outside low..high, kept as they are"
    ran = tradebot("run", "--config", str(config), "--data", str(data), "--speed", "0")
    assert ran.returncode == 0, ran.stderr
    assert repeat in ran.stderr and outside in ran.stderr
    assert "replay finished: 90 bars" in ran.stderr
    tested = tradebot("backtest", "--config", str(config), "--data", str(data))
    assert tested.returncode == 0, tested.stderr
    assert f"warning: {repeat}" in tested.stdout and f"warning: {outside}" in tested.stdout
    assert ": 90 bars, 3 symbol(s)" in tested.stdout
