"""`make bench-peers`: the same strategy on the same bars in tradebot and in backtrader,
backtesting.py, vectorbt and nautilus_trader (installed in bench/.peers-venv, not the project's
venv), each as a whole process; bars/s, round trips and final equity side by side, then the
5 x 5 sweep (entry_z x exit_z) in tradebot and in vectorbt's vectorized grid.

Every run is a fresh process timed from start to exit (imports and loading included). Each
framework first runs once on a 20,000-row slice (page cache, .pyc files, numba's cache)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from bench.backtest_bars import bars_file
from bench.common import machine
from bench.peer_runs import (
    GRID,
    SWEEP_ARGS,
    ours,
    peer,
    peers_installed,
    warm_up_ours,
    warm_up_peer,
)

PEERS = {
    "backtrader": "run_backtrader.py",
    "backtesting.py": "run_backtesting.py",
    "vectorbt": "run_vectorbt.py",
    "nautilus_trader": "run_nautilus.py",
}
SWEEP_PEER = "run_vectorbt_sweep.py"


def main() -> int:
    data = bars_file()
    rows = sum(1 for _ in data.open()) - 1
    print(f"{datetime.now(UTC):%Y-%m-%d}, {machine()}")
    print(f"{rows:,} bars ({data.name}), no costs, whole process, one run after a warm-up\n")
    print("| framework | bars/s | round trips | final equity | deviation from tradebot |")
    print("|---|---|---|---|---|")
    warm_up_ours(data)
    took, found = ours(data)
    seconds = took.wall
    free = found["no_costs"]
    assert isinstance(free, dict)
    print(
        f"| tradebot | {rows / seconds:,.0f} | {free['trades']:,} | ${free['final_equity']:,.2f} | "
        "- (the live engine, gate, book and simulated broker; two passes: with and without "
        "costs) |",
        flush=True,
    )
    rates = {}
    for name, script in PEERS.items():
        if not peers_installed():
            print(f"| {name} | not run | | | bench/.peers-venv is missing (make bench-peers) |")
            continue
        try:
            warm_up_peer(script, data)
            ran, result = peer(script, data)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"| {name} | failed | | | {exc} |", flush=True)
            continue
        rates[name] = rows / ran.wall
        print(
            f"| {name} | {rows / ran.wall:,.0f} | {result['trades']:,} | "
            f"${result['final_equity']:,.2f} | {result['deviation']} |",
            flush=True,
        )
    if rates:
        fastest = max(rates, key=rates.__getitem__)
        print(
            f"\ntradebot: {rows / seconds / rates[fastest]:.2f}x the fastest peer ({fastest}); "
            "target >= 2x"
        )
    print(f"\n5 x 5 sweep ({' '.join(GRID)}), same bars, whole process, after a warm-up\n")
    print("| framework | wall s | CPU s | points | deviation |")
    print("|---|---|---|---|---|")
    warm_up_ours(data, SWEEP_ARGS)
    swept, found = ours(data, SWEEP_ARGS)
    points = found["grid"]
    assert isinstance(points, list)
    print(
        f"| tradebot | {swept.wall:.1f} | {swept.cpu:.1f} | {len(points)} | - (a costed base "
        "run, and each point a run of the live engine, across the cores) |",
        flush=True,
    )
    if not peers_installed():
        return 0
    try:
        warm_up_peer(SWEEP_PEER, data)
        ran, result = peer(SWEEP_PEER, data)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"| vectorbt | failed | | | {exc} |")
        return 0
    grid = result["points"]
    assert isinstance(grid, list)
    print(
        f"| vectorbt | {ran.wall:.1f} | {ran.cpu:.1f} | {len(grid)} | vectorized, as its "
        "single run |"
    )
    print(f"\ntradebot's sweep: {swept.wall / ran.wall:.2f}x vectorbt's time; target <= 0.5x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
