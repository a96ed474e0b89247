"""`make bench-peers`: the same strategy on the same bars in tradebot and in backtrader,
backtesting.py, vectorbt and nautilus_trader (installed in bench/.peers-venv, not the project's
venv), each as a whole process; bars/s, round trips and final equity side by side.

Every run is a fresh process timed from start to exit (imports and loading included). Each
framework first runs once on a 20,000-row slice (page cache, .pyc files, numba's cache)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.backtest_bars import bars_file
from bench.backtest_speed import backtest_seconds
from bench.common import machine

PEERS_PYTHON = Path(__file__).resolve().parent / ".peers-venv" / "bin" / "python"
SCRIPTS = Path(__file__).resolve().parent / "peers"
PEERS = {
    "backtrader": "run_backtrader.py",
    "backtesting.py": "run_backtesting.py",
    "vectorbt": "run_vectorbt.py",
    "nautilus_trader": "run_nautilus.py",
}
WARM_UP_ROWS = 20_000


def slice_of(data: Path, rows: int) -> Path:
    path = data.with_name(f"{data.stem}-head{rows}.csv")
    if not path.is_file():
        with data.open() as source, path.open("w") as target:
            for _, line in zip(range(rows + 1), source, strict=False):
                target.write(line)
    return path


def ours(data: Path) -> tuple[float, int, float]:
    """(seconds, round trips, final equity) of `tradebot backtest --no-costs`, frictionless."""
    with tempfile.TemporaryDirectory() as warm_up:
        backtest_seconds(slice_of(data, WARM_UP_ROWS), Path(warm_up))
    with tempfile.TemporaryDirectory() as folder:
        seconds = backtest_seconds(data, Path(folder))
        found = json.loads(next(Path(folder, "out").glob("*/report.json")).read_text())
    free = found["no_costs"]
    return seconds, int(free["trades"]), float(free["final_equity"])


def peer(script: str, data: Path) -> tuple[float, int, float, str]:
    """(seconds, round trips, final equity, deviation); raises with the peer's own error."""
    command = [str(PEERS_PYTHON), str(SCRIPTS / script)]
    subprocess.run([*command, str(slice_of(data, WARM_UP_ROWS))], check=True, capture_output=True)
    started = time.perf_counter()
    done = subprocess.run([*command, str(data)], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, int(found["trades"]), float(found["final_equity"]), found["deviation"]


def main() -> int:
    data = bars_file()
    rows = sum(1 for _ in data.open()) - 1
    print(f"{datetime.now(UTC):%Y-%m-%d}, {machine()}")
    print(f"{rows:,} bars ({data.name}), no costs, whole process, one run after a warm-up\n")
    print("| framework | bars/s | round trips | final equity | deviation from tradebot |")
    print("|---|---|---|---|---|")
    seconds, trips, equity = ours(data)
    print(
        f"| tradebot | {rows / seconds:,.0f} | {trips:,} | ${equity:,.2f} | "
        "- (the live engine, gate, book and simulated broker) |",
        flush=True,
    )
    for name, script in PEERS.items():
        if not PEERS_PYTHON.is_file():
            print(f"| {name} | not run | | | bench/.peers-venv is missing (make bench-peers) |")
            continue
        try:
            seconds, trips, equity, deviation = peer(script, data)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"| {name} | failed | | | {exc} |", flush=True)
            continue
        print(
            f"| {name} | {rows / seconds:,.0f} | {trips:,} | ${equity:,.2f} | {deviation} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
