"""`tradebot backtest --sweep --grid`: the grid's points, the refusals of bad specs, and each
point's result equal to a backtest of that point alone."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest

from ops.backtest.features import adopt, features, share
from ops.backtest.grid import GridError, parse_grid
from ops.backtest.metrics import compute
from ops.backtest.robustness import sweep_grid
from ops.backtest.run import Costs, Setup, run
from ops.config.settings import Settings, load_settings
from strategy.venues.bar_columns import BarColumns
from strategy.venues.bars import COLUMNS, synthetic_bars
from tests.support import START, write_config
from tests.test_backtest import backtest_cli, journal_kinds
from tests.test_backtest_fast import _sessions

SYMBOLS = ("SPY", "QQQ", "IWM")


def _settings(tmp_path: Path) -> Settings:
    return load_settings(write_config(tmp_path, **{"strategy.symbols": list(SYMBOLS)}))


def test_a_grid_is_every_combination_of_its_values(tmp_path: Path) -> None:
    """START:STOP:COUNT is inclusive and evenly spaced, lists are taken as given, the last
    axis varies fastest, and every other parameter is the configuration's."""
    settings = _settings(tmp_path)
    grid = parse_grid(["entry_z=1.5:2.5:5", "strategy.exit_z_threshold=0.25,0.5"], settings)
    assert [a.name for a in grid.axes] == ["entry_z", "exit_z"]
    assert grid.axes[0].values == (1.5, 1.75, 2.0, 2.25, 2.5)
    assert [p.values for p in grid.points][:3] == [(1.5, 0.25), (1.5, 0.5), (1.75, 0.25)]
    assert len(grid.points) == 10
    base = settings.strategy_params()
    first = grid.points[0].params
    assert (first.entry_z, first.exit_z, first.lookback) == (1.5, 0.25, base.lookback)
    lookbacks = parse_grid(["lookback=16:24:3"], settings)
    assert [p.params.lookback for p in lookbacks.points] == [16, 20, 24]


@pytest.mark.parametrize(
    ("specs", "says"),
    [
        (["entry_z=1:2"], "use NAME=START:STOP:COUNT"),
        (["entry_z"], "use NAME=START:STOP:COUNT"),
        (["entry_z=a:b:3"], "use NAME=START:STOP:COUNT"),
        (["entry_z=2:1:3"], "START must be below STOP"),
        (["entry_z=1:2:0"], "COUNT must be 1..50"),
        (["entry_z=nan,2"], "not a finite number"),
        (["lookback=10:20:4"], "lookback takes whole numbers, not 13.3333"),
        (["lookback=2,20"], "lookback = 2 is out of range (3 .. 500)"),
        (["lookback=8,20"], "strategy.lookback (8) must exceed strategy.vol_window (10)"),
        (["bogus=1,2"], "a grid varies lookback, entry_z, exit_z"),
        (["risk.max_order_qty=1,2"], "not 'risk.max_order_qty'"),
        (["entry_z=1,2", "entry_z=3"], "names a parameter twice"),
        (["entry_z=2,2"], "a value appears twice"),
        (["entry_z=0.4:2:3"], "point entry_z=0.4: strategy.exit_z_threshold (0.5) must be below"),
        (["entry_z=1:3:21", "exit_z=0.1:0.9:20"], "420 points; at most 400"),
        ([], "needs at least one"),
    ],
)
def test_a_bad_grid_is_refused_with_what_is_wrong(
    tmp_path: Path, specs: list[str], says: str
) -> None:
    """The first spec or point that cannot run, named, with what is allowed."""
    with pytest.raises(GridError) as refused:
        parse_grid(specs, _settings(tmp_path))
    assert says in str(refused.value)


async def test_each_point_of_a_grid_sweep_is_the_backtest_of_that_point(tmp_path: Path) -> None:
    """The workers (statistics shared, metrics computed there) give what a run of the point
    alone gives: the same metrics, trades included."""
    settings = _settings(tmp_path)
    bars = BarColumns.of(_sessions(11, days=3))
    grid = parse_grid(["entry_z=1.6,2.2", "exit_z=0.3,0.7", "lookback=15,20"], settings)
    setup = Setup(SYMBOLS, settings.strategy_params(), settings.risk_limits(), Costs())
    found = await sweep_grid(bars, setup, grid)
    alone = [
        compute(await run(BarColumns.of(list(bars)), replace(setup, params=p.params)), bars)
        for p in grid.points
    ]
    assert [repr(r.metrics) for r in found] == [repr(m) for m in alone]  # repr: nan == nan
    assert len({m.trades for m in alone}) > 2  # the points differ


def _bars_file(tmp_path: Path) -> Path:
    path = tmp_path / "bars.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for b in synthetic_bars(SYMBOLS, 5, START, count=1_500):
            writer.writerow([int(b.ts), b.symbol, b.open, b.high, b.low, b.close, b.volume])
    return path


def test_the_cli_grid_matches_tradebot_backtest_of_each_point(tmp_path: Path) -> None:
    """`--sweep --grid` prints, saves and journals a row per point; a point's trades and return
    are those of `tradebot backtest` run with that point's parameters."""
    data = _bars_file(tmp_path)
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    config = write_config(sweep_dir, **{"strategy.symbols": list(SYMBOLS)})
    done = backtest_cli(
        "--data",
        str(data),
        "--sweep",
        "--grid",
        "entry_z=1.6,2.4",
        "exit_z=0.3,0.7",
        "--out",
        str(sweep_dir / "r"),
        config=config,
    )
    assert done.returncode == 0, done.stderr
    assert "parameter grid (4 points)" in done.stdout
    (folder,) = (sweep_dir / "r").iterdir()
    points = json.loads((folder / "report.json").read_text())["grid"]
    assert [(p["entry_z"], p["exit_z"]) for p in points] == [
        (1.6, 0.3),
        (1.6, 0.7),
        (2.4, 0.3),
        (2.4, 0.7),
    ]
    kinds = journal_kinds(sweep_dir)  # not "sweep": the checklist's +-20% item reads those
    assert kinds.count(("grid", 1)) == 4 and ("sweep", 1) not in kinds
    for chosen in (points[0], points[3]):
        alone_dir = tmp_path / f"alone-{chosen['entry_z']}-{chosen['exit_z']}"
        alone_dir.mkdir()
        alone_config = write_config(
            alone_dir,
            **{
                "strategy.symbols": list(SYMBOLS),
                "strategy.entry_z_threshold": chosen["entry_z"],
                "strategy.exit_z_threshold": chosen["exit_z"],
            },
        )
        alone = backtest_cli(
            "--data", str(data), "--out", str(alone_dir / "r"), config=alone_config
        )
        assert alone.returncode == 0, alone.stderr
        (report,) = (alone_dir / "r").glob("*/report.json")
        single = json.loads(report.read_text())["with_costs"]
        assert chosen["trades"] > 0
        for key in ("trades", "orders", "fills", "total_return", "final_equity"):
            assert chosen[key] == single[key], key


def test_a_bad_grid_on_the_command_line_runs_and_records_nothing(tmp_path: Path) -> None:
    """A clear message, exit 2, no report and no journal row; --grid alone asks for --sweep."""
    config = write_config(tmp_path)
    for args, says in (
        (("--sweep", "--grid", "entry_z=2:1:3"), "START must be below STOP"),
        (("--grid", "entry_z=1,2"), "--grid is the grid of a sweep: add --sweep"),
    ):
        done = backtest_cli("--days", "0.2", *args, "--out", str(tmp_path / "r"), config=config)
        assert done.returncode == 2
        assert says in done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "r").exists() and journal_kinds(tmp_path) == []


def test_the_statistics_of_each_lookback_are_computed_once_for_every_worker() -> None:
    """`share` computes one set per distinct lookback; a worker's copy of the bars that adopts
    them finds them instead of computing its own."""
    bars = BarColumns.of(_sessions(3, days=1))
    windows = [(SYMBOLS, lookback, 10) for lookback in (20, 15, 20, 20, 15)]
    shared = share(bars, windows)
    assert len(shared) == 2
    c = bars
    worker_copy = BarColumns(c.names, c.code, c.ts, c.open, c.high, c.low, c.close, c.volume)
    adopt(worker_copy, shared)
    for lookback in (15, 20):
        assert features(worker_copy, SYMBOLS, lookback, 10) is features(bars, SYMBOLS, lookback, 10)
