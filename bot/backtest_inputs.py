"""What `tradebot backtest` runs on, checked first: arguments, bars, frictions, parameters, grid."""

from __future__ import annotations

import argparse
import asyncio
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.backtest_args import DEFAULT_DAYS
from ops.backtest import history
from ops.backtest.grid import Grid, GridError, parse_grid
from ops.backtest.live_slippage import MIN_LIVE_FILLS, live_slippage
from ops.backtest.run import Costs
from ops.backtest.setup import article_costs
from ops.config.settings import ConfigError, Settings, load_settings
from ops.journal.owner import journal_folder
from ops.shared import messages
from ops.shared.errors import StartupError
from strategy.types import Bar

if TYPE_CHECKING:
    from ops.journal.journal import Journal


def check_arguments(args: argparse.Namespace) -> None:
    """The combinations of arguments that cannot run."""
    if args.days is not None and (args.data or args.alpaca):
        raise StartupError("--days sets the length of synthetic bars; not with --data/--alpaca")
    if args.split is not None and not 0.1 <= args.split <= 0.9:
        raise StartupError("--split: the in-sample fraction must be 0.1..0.9")
    if args.as_reference and not (args.data or args.alpaca):
        raise StartupError(messages.REFERENCE_NEEDS_MARKET_DATA)


async def load_bars(
    args: argparse.Namespace, settings: Settings, env: Mapping[str, str]
) -> tuple[Sequence[Bar], str, tuple[str, ...]]:
    """(the bars, where they come from, warnings about them)."""
    if args.data:
        if not await asyncio.to_thread(Path(args.data).is_file):
            raise StartupError(f"--data: no such file {args.data!r}")
        loaded = await asyncio.to_thread(history.from_csv, args.data)
        return loaded.bars, f"csv:{args.data}", loaded.warnings
    if args.alpaca:
        key, secret = env.get("ALPACA_API_KEY"), env.get("ALPACA_SECRET_KEY")
        if not key or not secret:
            raise StartupError("--alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
        start, end = args.alpaca
        loaded, path, cached = await asyncio.to_thread(
            history.from_alpaca,
            settings.symbols,
            start,
            end,
            key,
            secret,
            settings.text("broker.data_url"),
            settings.text("broker.data_feed"),
            journal_folder(settings) / "cache",
            settings.number("broker.timeout_sec"),
        )
        how = "read from the cache" if cached else "fetched and cached"
        print(f"{len(loaded.bars):,} Alpaca bars {how} at {path}")
        return loaded.bars, f"alpaca:{start}..{end}", loaded.warnings
    days = args.days if args.days is not None else DEFAULT_DAYS
    seed = args.seed if args.seed is not None else settings.integer("broker.seed")
    bars = history.synthetic(settings.symbols, seed, days)
    return bars, f"synthetic:{days:g}d seed {seed}", ()


async def frictions(spec: str, settings: Settings, journal: Journal) -> tuple[Costs, str]:
    """The frictions and how to say them."""
    commission = settings.number("broker.commission_per_share")
    if spec == "article":
        costs = article_costs(settings)
        return costs, f"{costs.slippage_bps:.2f} +- {costs.slippage_std_bps:.2f} bps (article)"
    if spec == "config":
        bps = settings.number("broker.slippage_bps")
        return Costs(commission, bps, 0.0), f"{bps:.2f} bps (broker.slippage_bps)"
    if spec == "live":
        market, limit = await live_slippage(journal)
        if len(market) < MIN_LIVE_FILLS:
            found = (
                f"only {len(market)} market-order fill(s)"
                if market
                else "no market-order fills yet"
            )
            raise StartupError(
                messages.LIVE_SLIPPAGE_TOO_FEW.format(
                    found=found, limit=limit, needs=MIN_LIVE_FILLS
                )
            )
        mean = sum(market) / len(market)
        said = messages.LIVE_SLIPPAGE_SAID.format(market=len(market), mean=mean, limit=limit)
        return Costs(commission, mean, 0.0, market), said
    try:
        bps = float(spec)
    except ValueError:
        raise StartupError(
            f"--slippage {spec!r}: use article, config, live or a number of bps"
        ) from None
    if not 0 <= bps <= 1000 or math.isnan(bps):
        raise StartupError(f"--slippage {spec!r}: bps must be 0..1000")
    return Costs(commission, bps, 0.0), f"{bps:.2f} bps (--slippage)"


def with_overrides(
    path: Path, env: Mapping[str, str], journal: Journal, apply: bool
) -> tuple[Settings | None, dict[str, str]]:
    """The journal's runtime changes, and the settings with them applied when asked."""
    overrides = journal.load_overrides()
    if not apply:
        return None, overrides
    try:
        return load_settings(path, overrides=overrides, env=env), overrides
    except ConfigError as exc:
        raise StartupError(f"--with-overrides: {exc}") from None


def differences(file: Settings, used: Settings, overrides: Mapping[str, str]) -> list[str]:
    """What the run uses that config.yaml does not say, and the changes it leaves out."""
    lines = []
    changed = [
        f"{spec.path} = {value} (file: {file.get(spec.path)}, from the {source})"
        for spec, value, source in used.items()
        if source in ("override", "env") and value != file.get(spec.path)
    ]
    if changed:
        lines.append("differs from the config file: " + "; ".join(changed))
    elif used is file and overrides:
        left_out = "; ".join(f"{k} = {v}" for k, v in overrides.items())
        lines.append(
            f"config file only; the journal's runtime changes are NOT applied ({left_out}): "
            "--with-overrides applies them"
        )
    else:
        lines.append("parameters: the config file's")
    return lines


def checked_grid(args: argparse.Namespace, settings: Settings) -> Grid | None:
    """The --grid, checked before anything runs or is recorded."""
    if args.grid is None:
        return None
    if not args.sweep:
        raise StartupError("--grid is the grid of a sweep: add --sweep")
    try:
        return parse_grid(args.grid, settings)
    except GridError as exc:
        raise StartupError(str(exc)) from None
