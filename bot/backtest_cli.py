"""`tradebot backtest`: pick the bars, run the live engine over them with frictions (and
without, with --no-costs), print and save the report, record it as the strategy's reference."""

from __future__ import annotations

import argparse
import asyncio
import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bot.progress import ProgressBar
from bot.venues import StartupError
from ops.backtest import history, reference, report
from ops.backtest.metrics import compute
from ops.backtest.robustness import robust, split, sweep
from ops.backtest.run import NO_COSTS, Costs, Setup, run
from ops.config import Settings
from ops.journal import Journal
from strategy.types import Bar

DEFAULT_DAYS = 20.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", help="CSV of bars (timestamp,symbol,open,high,low,close,volume)")
    source.add_argument("--synthetic", action="store_true", help="seeded synthetic bars (default)")
    source.add_argument(
        "--alpaca", nargs=2, metavar=("START", "END"), help="Alpaca minute bars, dates YYYY-MM-DD"
    )
    parser.add_argument(
        "--days", type=float, help=f"sessions of synthetic bars (default {DEFAULT_DAYS:g})"
    )
    parser.add_argument("--no-costs", action="store_true", help="show the frictionless result too")
    parser.add_argument(
        "--slippage",
        default="article",
        help="article (2.34 +- 2.87 bps), live (the journal's realized fills) or a number of bps",
    )
    parser.add_argument("--sweep", action="store_true", help="vary each key parameter -20%%..+20%%")
    parser.add_argument(
        "--split", type=float, nargs="?", const=0.7, help="in-sample fraction (default 0.7)"
    )
    parser.add_argument("--out", default="data/backtests", help="folder for the JSON and PNG")
    parser.add_argument("--seed", type=int, help="seed of the synthetic bars and slippage draws")


async def _bars(
    args: argparse.Namespace, settings: Settings, env: Mapping[str, str]
) -> tuple[list[Bar], str]:
    if args.data:
        if not await asyncio.to_thread(Path(args.data).is_file):
            raise StartupError(f"--data: no such file {args.data!r}")
        return await asyncio.to_thread(history.from_csv, args.data), f"csv:{args.data}"
    if args.alpaca:
        key, secret = env.get("ALPACA_API_KEY"), env.get("ALPACA_SECRET_KEY")
        if not key or not secret:
            raise StartupError("--alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
        start, end = args.alpaca
        bars, path, cached = await asyncio.to_thread(
            history.from_alpaca,
            settings.symbols,
            start,
            end,
            key,
            secret,
            settings.text("broker.data_url"),
            settings.text("broker.data_feed"),
            Path(settings.text("journal.path")).parent / "cache",
        )
        how = "read from the cache" if cached else "fetched and cached"
        print(f"{len(bars):,} Alpaca bars {how} at {path}")
        return bars, f"alpaca:{start}..{end}"
    days = args.days if args.days is not None else DEFAULT_DAYS
    seed = args.seed if args.seed is not None else settings.integer("broker.seed")
    return history.synthetic(settings.symbols, seed, days), f"synthetic:{days:g}d seed {seed}"


async def _costs(spec: str, settings: Settings, journal: Journal) -> Costs:
    commission = settings.number("broker.commission_per_share")
    if spec == "article":
        return Costs(commission_per_share=commission)
    if spec == "live":
        rows = await journal.aquery("select slippage_bps from fills where slippage_bps is not null")
        samples = tuple(float(r["slippage_bps"]) for r in rows)  # type: ignore[arg-type]
        if not samples:
            raise StartupError("--slippage live: the journal has no fills yet")
        return Costs(commission, sum(samples) / len(samples), 0.0, samples)
    try:
        bps = float(spec)
    except ValueError:
        raise StartupError(f"--slippage {spec!r}: use article, live or a number of bps") from None
    if not 0 <= bps <= 1000 or math.isnan(bps):
        raise StartupError(f"--slippage {spec!r}: bps must be 0..1000")
    return Costs(commission, bps, 0.0)


def _setup(settings: Settings, costs: Costs, seed: int | None) -> Setup:
    return Setup(
        symbols=settings.symbols,
        params=settings.strategy_params(),
        limits=settings.risk_limits(),
        costs=costs,
        starting_cash=settings.number("broker.starting_cash"),
        seed=seed if seed is not None else settings.integer("broker.seed"),
        bar_sec=settings.integer("sim.bar_sec"),
        vol_window=settings.integer("strategy.vol_window"),
    )


async def backtest(
    args: argparse.Namespace, settings: Settings, journal: Journal, env: Mapping[str, str]
) -> int:
    """Settings include the operators' confirmed changes: the backtest tests what trades."""
    try:
        return await _backtest(args, settings, env, journal)
    finally:
        await asyncio.to_thread(journal.close)


async def _backtest(
    args: argparse.Namespace, settings: Settings, env: Mapping[str, str], journal: Journal
) -> int:
    if args.days is not None and (args.data or args.alpaca):
        raise StartupError("--days sets the length of synthetic bars; not with --data/--alpaca")
    if args.split is not None and not 0.1 <= args.split <= 0.9:
        raise StartupError("--split: the in-sample fraction must be 0.1..0.9")
    costs = await _costs(args.slippage, settings, journal)
    bars, source = await _bars(args, settings, env)
    if not bars:
        raise StartupError(f"no bars in {source}")
    setup = _setup(settings, costs, args.seed)
    print(
        f"backtest of {settings.get('strategy.name')} on {source}: {len(bars):,} bars, "
        f"{len(setup.symbols)} symbols; commission ${costs.commission_per_share}/share, "
        f"slippage {costs.slippage_bps:.2f} bps mean"
    )
    outcome = await run(bars, setup, ProgressBar("with costs"))
    metrics = compute(outcome)
    columns = [("with costs", metrics)]
    reference.record(journal, "full", source, True, setup.params, metrics)
    if args.no_costs:
        free = compute(await run(bars, replace(setup, costs=NO_COSTS), ProgressBar("no costs")))
        columns.append(("no costs", free))
        reference.record(journal, "full", source, False, setup.params, free)
    print(report.table(columns))
    result: dict[str, object] = {"source": source, "with_costs": metrics.as_dict()}
    if args.no_costs:
        result["no_costs"] = columns[1][1].as_dict()
    if args.sweep:
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
    out = Path(args.out) / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    picture = await asyncio.to_thread(report.png, outcome, metrics)
    await asyncio.to_thread(_save, out, result, picture)
    print(f"\nreport: {out / 'report.json'} and {out / 'report.png'}")
    print(
        f"recorded as the strategy's reference: max drawdown {metrics.max_drawdown:.3%}, "
        f"so live trading alerts above {1.5 * metrics.max_drawdown:.3%}"
    )
    return 0


def _save(folder: Path, result: dict[str, object], picture: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    report.write_json(folder / "report.json", result)
    (folder / "report.png").write_bytes(picture)
