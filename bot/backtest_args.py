"""`tradebot backtest`'s arguments, apart from the backtest itself so that building the parser
for any command (a kill included) imports nothing heavy."""

from __future__ import annotations

import argparse

DEFAULT_DAYS = 20.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data", help="CSV of bars (timestamp,symbol,open,high,low,close,volume), in time order"
    )
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
        help="article (2.34 +- 2.87 bps), config (broker.slippage_bps), live (the journal's "
        "realized fills) or a number of bps",
    )
    parser.add_argument("--sweep", action="store_true", help="vary each key parameter -20%%..+20%%")
    parser.add_argument(
        "--grid",
        nargs="+",
        metavar="NAME=START:STOP:COUNT",
        help="with --sweep: every combination of these values instead, "
        "e.g. entry_z=1.5:2.5:5 exit_z=0.25:0.75:5 (or NAME=V1,V2,...)",
    )
    parser.add_argument(
        "--split", type=float, nargs="?", const=0.7, help="in-sample fraction (default 0.7)"
    )
    parser.add_argument("--out", default="data/backtests", help="folder for the JSON and PNG")
    parser.add_argument("--seed", type=int, help="seed of the synthetic bars and slippage draws")
    parser.add_argument(
        "--as-reference",
        action="store_true",
        help="make the run with costs the live reference (drawdown alert, drift check)",
    )
    parser.add_argument(
        "--with-overrides",
        action="store_true",
        help="apply the journal's runtime changes (`set`) on top of the config file",
    )
