"""`tradebot backtest`: pick the bars, run the live engine over them with frictions (and
without, with --no-costs), print and save the report. It changes nothing unless asked: the
parameters are config.yaml's (the journal's runtime changes only with --with-overrides), and
the run becomes the live reference only with --as-reference."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.backtest_inputs import (
    check_arguments,
    checked_grid,
    differences,
    frictions,
    load_bars,
    with_overrides,
)
from bot.progress import ProgressBar
from ops.backtest import chart, reference, report
from ops.backtest.collector import tune_for_passes
from ops.backtest.grid import Grid, GridResult
from ops.backtest.metrics import Metrics, compute, expected_prices, slippage_per_fill
from ops.backtest.parallel import Beside
from ops.backtest.robustness import robust, split, sweep, sweep_grid
from ops.backtest.run import NO_COSTS, Outcome, Setup, run
from ops.backtest.setup import backtest_setup
from ops.config.settings import Settings, load_settings
from ops.journal.owner import find_journal, journal_file
from ops.shared.errors import StartupError
from ops.shared.messages import bar_symbols
from strategy.venues.bar_columns import BarColumns

if TYPE_CHECKING:
    from ops.journal.journal import Journal


async def backtest(args: argparse.Namespace, path: Path, env: Mapping[str, str]) -> int:
    # The frictionless pass's process starts first, forked before any other thread runs here
    # (parallel.Beside): it loads matplotlib while we start the journal and read the bars.
    beside = Beside() if args.no_costs else None
    tune_for_passes()
    try:
        file_settings = load_settings(path, env=env)
        journal = _start_journal(file_settings, await _journal_path(file_settings, env))
        try:
            settings, overrides = with_overrides(path, env, journal, args.with_overrides)
            return await _backtest(
                args, file_settings, settings or file_settings, overrides, journal, env, beside
            )
        finally:
            await asyncio.to_thread(journal.close)
    finally:
        if beside is not None:
            beside.close()


async def _journal_path(settings: Settings, env: Mapping[str, str]) -> Path:
    """The journal `tradebot run` keeps with this config, where a reference must go. An Alpaca
    account's is named by its number: read from Alpaca when the keys are set (nothing else is
    asked), else found by its file name."""
    alpaca = settings.get("broker.name") == "alpaca" and not settings.text("journal.path")
    if not alpaca or not env.get("ALPACA_API_KEY") or not env.get("ALPACA_SECRET_KEY"):
        return find_journal(settings)
    from bot.venues import build_alpaca

    venue = await build_alpaca(settings, env)
    await venue.stop()
    return journal_file(settings, venue.owner)


def _start_journal(settings: Settings, path: Path) -> Journal:
    """The journal, its module imported without pandas: sqlite-utils imports pandas when it
    can (~0.3 s, most of a backtest's start-up) only to store pandas.Timestamp values, and a
    backtest journals none. Later imports of pandas (alpaca-py's, for --alpaca) work as usual."""
    hidden = "pandas" not in sys.modules
    if hidden:
        sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` fails
    try:
        from ops.journal.journal import start_journal
    finally:
        if hidden:
            del sys.modules["pandas"]
    return start_journal(settings, path)


async def _backtest(
    args: argparse.Namespace,
    file_settings: Settings,
    settings: Settings,
    overrides: Mapping[str, str],
    journal: Journal,
    env: Mapping[str, str],
    beside: Beside | None,
) -> int:
    check_arguments(args)
    grid = checked_grid(args, settings)
    costs, slippage_said = await frictions(args.slippage, settings, journal)
    rows, source, warnings = await load_bars(args, settings, env)
    if not rows:
        raise StartupError(f"no bars in {source}")
    bars = BarColumns.of(rows)  # every pass, metric and chart reads the same columns
    setup = backtest_setup(settings, costs, args.seed)
    print(
        f"backtest of {settings.get('strategy.name')} on {source}: {len(bars):,} bars, "
        f"{bar_symbols(bars.names, setup.symbols)}; "
        f"commission ${costs.commission_per_share}/share, "
        f"market-order slippage {slippage_said}"
    )
    for line in differences(file_settings, settings, overrides):
        print(line)
    for warning in warnings:
        print(f"warning: {warning}")
    if args.seed is not None and args.seed != file_settings.integer("broker.seed"):
        print(
            f"seed {args.seed} (--seed; the file's broker.seed: {file_settings.get('broker.seed')})"
        )
    if beside is not None:  # the frictionless pass runs on another core meanwhile
        beside.submit(bars, replace(setup, costs=NO_COSTS))
    gridded = None  # the grid's points start on every core now, beside the run here
    if grid is not None:
        gridded = asyncio.create_task(sweep_grid(bars, setup, grid, ProgressBar("sweep")))
        await asyncio.sleep(0)  # its workers start before the (synchronous) run below
    outcome = await run(bars, setup, ProgressBar("with costs"))
    metrics = compute(outcome, bars)
    runs: list[tuple[str, Outcome, Metrics]] = [("with costs", outcome, metrics)]
    slippage = slippage_per_fill(outcome.fills, expected_prices(outcome.fills, bars, setup.bar_sec))
    if beside is not None:  # it draws the chart: its own run's curve is there already
        free = await beside.result()
        runs.append(("no costs", free, compute(free, bars)))
        beside.draw(chart.lines(runs[:1])[0], ("no costs", runs[1][2]), slippage)
    print(report.table([(name, m) for name, _, m in runs]))
    refused = await _record(args.as_reference, journal, source, setup, runs)
    result: dict[str, object] = {
        "source": source,
        "params": {spec.path: value for spec, value, _ in settings.items()},
        "overrides_applied": dict(overrides) if settings is not file_settings else {},
        "with_costs": metrics.as_dict(),
        "reference": args.as_reference and refused is None,
    }
    if args.no_costs:
        result["no_costs"] = runs[1][2].as_dict()
    if grid is not None and gridded is not None:
        result["grid"] = _report_grid(grid, await gridded, journal, source)
    elif args.sweep:
        points = await sweep(bars, setup, ProgressBar("sweep"))
        print("\nparameter sweep (+-20%):\n" + report.sweep_table(points))
        print(
            "robust: every point makes money"
            if robust(points)
            else "NOT robust: some points lose money"
        )
        for p in points:
            reference.record(
                journal,
                "sweep",
                source,
                True,
                replace(setup.params, **{p.param: p.value}),
                p.metrics,
                param=p.param,
                factor=p.factor,
            )
        result["sweep"] = [
            {"param": p.param, "factor": p.factor, "value": p.value, **p.metrics.as_dict()}
            for p in points
        ]
    if args.split is not None:
        halves = await split(bars, setup, args.split)
        print("\n" + report.split_table(halves))
        reference.record(journal, "split-in", source, True, setup.params, halves.in_sample)
        reference.record(journal, "split-out", source, True, setup.params, halves.out_of_sample)
        result["split"] = {
            "in_sample": halves.in_sample.as_dict(),
            "out_of_sample": halves.out_of_sample.as_dict(),
            "split_ts": halves.split_ts,
        }
    if beside is not None:
        picture = await beside.picture()
    else:
        picture = await asyncio.to_thread(chart.png, runs, slippage)
    out = await asyncio.to_thread(_save, Path(args.out), result, picture)
    print(f"\nreport: {out / 'report.json'} and {out / 'report.png'}")
    if refused is not None:
        print(f"tradebot: not recorded as the reference: {refused}", file=sys.stderr)
        return 1
    return 0


def _report_grid(
    grid: Grid, results: Sequence[GridResult], journal: Journal, source: str
) -> list[dict[str, object]]:
    """Print and journal the grid (a row per point, as printed); its part of the JSON."""
    print(f"\nparameter grid ({len(results)} points):\n" + report.grid_table(grid, results))
    names = [a.name for a in grid.axes]
    for r in results:
        values = dict(zip(names, r.point.values, strict=True))
        # kind "grid", not "sweep": the checklist's +-20% robustness item reads only those
        reference.record(journal, "grid", source, True, r.point.params, r.metrics, **values)
    return [
        {**dict(zip(names, r.point.values, strict=True)), **r.metrics.as_dict()} for r in results
    ]


async def _record(
    as_reference: bool,
    journal: Journal,
    source: str,
    setup: Setup,
    runs: Sequence[tuple[str, Outcome, Metrics]],
) -> str | None:
    """Journal the full runs; the costed one as the reference when asked and fit. Returns
    why it was refused as the reference, or None."""
    metrics = runs[0][2]
    found = await reference.find(journal)
    previous = found.reference
    now = f"current reference: {reference.describe(previous)}" if previous else "no reference yet"
    if found.ignored:
        print(f"\n{found.ignored}")
    refused = reference.unfit(metrics, source) if as_reference else None
    kind = "reference" if as_reference and refused is None else "full"
    reference.record(journal, kind, source, True, setup.params, metrics)
    for _, _, free in runs[1:]:
        reference.record(journal, "full", source, False, setup.params, free)
    if kind == "reference":
        replaced = f"replaces {reference.describe(previous)}" if previous else "the first one"
        print(
            f"\nrecorded as the strategy's reference ({replaced}): max drawdown "
            f"{metrics.max_drawdown:.2%}, so live trading alerts above "
            f"{1.5 * metrics.max_drawdown:.2%}"
        )
    elif not as_reference:
        print(f"\nnot the live reference ({now}); --as-reference makes it one")
    return refused


def _save(parent: Path, result: dict[str, object], picture: bytes) -> Path:
    folder = report.new_folder(parent, datetime.now(UTC))
    report.write_json(folder / "report.json", result)
    (folder / "report.png").write_bytes(picture)
    return folder
