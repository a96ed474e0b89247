"""Figure 11: `tradebot backtest` as a user runs it, whole processes, against the peer
frameworks on the same bars (the shipped config's 5 symbols x 100,000 minute bars):

- one backtest (`--no-costs`: the costed and the frictionless pass, the report and the PNG)
  against the fastest of backtesting.py and vectorbt (the two fastest peers of
  `make bench-peers`) running the strategy once: target >= 2x the fastest;
- the 5 x 5 sweep (`--sweep --grid entry_z=1.5:2.5:5 exit_z=0.25:0.75:5`: a costed base run,
  then 25 runs of the live engine across the cores) against vectorbt's vectorized grid of the
  same 25 points: target at most half its wall time.

Warm-ups on a slice first (page cache, .pyc files, numba's cache), then interleaved rounds, so
that a slow moment of the shared machine hits every contender; medians."""

from __future__ import annotations

import statistics
from collections.abc import Callable

from bench.backtest_bars import bars_file
from bench.common import Figure
from bench.peer_runs import (
    SWEEP_ARGS,
    Took,
    ours,
    peer,
    peers_installed,
    warm_up_ours,
    warm_up_peer,
)

RUNS = 3
BACKTEST_TARGET = 2.0  # x the fastest peer's bars/s
SWEEP_TARGET = 0.5  # x vectorbt's wall time
SINGLE_PEERS = {"backtesting.py": "run_backtesting.py", "vectorbt": "run_vectorbt.py"}
SWEEP_PEER = "run_vectorbt_sweep.py"


def measure() -> list[Figure]:
    data = bars_file()
    rows = sum(1 for _ in data.open()) - 1
    if not peers_installed():
        print("  [11] bench/.peers-venv is missing: `make bench-peers` installs the peers")
        took, _ = ours(data)
        return [
            Figure(
                11,
                "one backtest (--no-costs) vs the fastest peer",
                f"{rows / took.wall:,.0f} bars/s",
                "not run (make bench-peers)",
                "-",
                f">= {BACKTEST_TARGET:.0f}x",
                None,
            )
        ]
    contenders: dict[str, Callable[[], Took]] = {
        "tradebot": lambda: ours(data)[0],
        **{name: (lambda s=script: peer(s, data)[0]) for name, script in SINGLE_PEERS.items()},
        "tradebot sweep": lambda: ours(data, SWEEP_ARGS)[0],
        "vectorbt sweep": lambda: peer(SWEEP_PEER, data)[0],
    }
    print(f"  [11] {rows:,} bars, whole processes, median of {RUNS} interleaved rounds")
    warm_up_ours(data)
    warm_up_ours(data, SWEEP_ARGS)
    for script in (*SINGLE_PEERS.values(), SWEEP_PEER):
        warm_up_peer(script, data)
    samples: dict[str, list[Took]] = {name: [] for name in contenders}
    for _ in range(RUNS):
        for name, run in contenders.items():
            samples[name].append(run())
    wall = {name: statistics.median(t.wall for t in found) for name, found in samples.items()}
    cpu = {name: statistics.median(t.cpu for t in found) for name, found in samples.items()}
    for name, found in samples.items():
        walls = ", ".join(f"{t.wall:.2f}" for t in found)
        print(f"       {name}: {wall[name]:.2f} s wall ({walls}), {cpu[name]:.2f} s CPU")
    fastest = min(SINGLE_PEERS, key=wall.__getitem__)
    speed = wall[fastest] / wall["tradebot"]
    sweep = wall["tradebot sweep"] / wall["vectorbt sweep"]
    print(
        f"       in CPU seconds: one backtest {cpu[fastest] / cpu['tradebot']:.2f}x {fastest}'s "
        f"speed; the sweep {cpu['tradebot sweep'] / cpu['vectorbt sweep']:.2f}x vectorbt's CPU"
    )
    return [
        Figure(
            11,
            "one backtest (--no-costs) vs the fastest peer",
            f"{rows / wall['tradebot']:,.0f} bars/s",
            f"{rows / wall[fastest]:,.0f} bars/s ({fastest}, one pass)",
            f"{speed:.2f}x",
            f">= {BACKTEST_TARGET:.0f}x",
            speed >= BACKTEST_TARGET,
        ),
        Figure(
            11,
            "5 x 5 sweep (entry_z x exit_z) vs vectorbt's grid",
            f"{wall['tradebot sweep']:.1f} s",
            f"{wall['vectorbt sweep']:.1f} s (vectorbt, vectorized)",
            f"{sweep:.2f}x its time",
            f"<= {SWEEP_TARGET}x its time",
            sweep <= SWEEP_TARGET,
        ),
    ]
