"""Whole processes on the backtest bars, timed from start to exit: `tradebot backtest` (one
backtest, or the 5 x 5 sweep) and the peer frameworks' scripts (bench/peers/, run by the
python of bench/.peers-venv, which `make bench-peers` installs)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.backtest_bars import config_file

PEERS_PYTHON = Path(__file__).resolve().parent / ".peers-venv" / "bin" / "python"
SCRIPTS = Path(__file__).resolve().parent / "peers"
WARM_UP_ROWS = 20_000
# the grid of bench/peers/common.py's GRID_ENTRY_Z x GRID_EXIT_Z
GRID = ("entry_z=1.5:2.5:5", "exit_z=0.25:0.75:5")
SWEEP_ARGS = ("--sweep", "--grid", *GRID)


@dataclass(frozen=True, slots=True)
class Took:
    wall: float  # seconds from start to exit
    cpu: float  # user + system seconds of the process and the children it waited for


def _timed(command: Sequence[str]) -> tuple[Took, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Took(wall, cpu), done


def slice_of(data: Path, rows: int) -> Path:
    """The first `rows` bars of the file, for warm-ups (page cache, .pyc files, numba)."""
    path = data.with_name(f"{data.stem}-head{rows}.csv")
    if not path.is_file():
        with data.open() as source, path.open("w") as target:
            for _, line in zip(range(rows + 1), source, strict=False):
                target.write(line)
    return path


def backtest_took(
    data: Path,
    folder: Path,
    strategy: Mapping[str, object] | None = None,
    args: Sequence[str] = ("--no-costs",),
) -> Took:
    """One `tradebot backtest` process; its report lands in folder/out."""
    command = [
        str(Path(sys.executable).with_name("tradebot")),
        "backtest",
        "--config",
        str(config_file(folder, strategy)),
        "--data",
        str(data),
        *args,
        "--out",
        str(folder / "out"),
    ]
    took, done = _timed(command)
    if done.returncode != 0:
        raise RuntimeError(f"tradebot backtest failed: {done.stderr.strip()}")
    return took


def newest_report(folder: Path) -> dict[str, object]:
    newest = max(Path(folder, "out").glob("*/report.json"))
    return json.loads(newest.read_text())  # type: ignore[no-any-return]


def ours(data: Path, args: Sequence[str] = ("--no-costs",)) -> tuple[Took, dict[str, object]]:
    """`tradebot backtest ARGS` in a scratch folder, and its report.json."""
    with tempfile.TemporaryDirectory() as folder:
        took = backtest_took(data, Path(folder), args=args)
        return took, newest_report(Path(folder))


def warm_up_ours(data: Path, args: Sequence[str] = ("--no-costs",)) -> None:
    with tempfile.TemporaryDirectory() as folder:
        backtest_took(slice_of(data, WARM_UP_ROWS), Path(folder), args=args)


def peers_installed() -> bool:
    return PEERS_PYTHON.is_file()


def warm_up_peer(script: str, data: Path) -> None:
    command = [str(PEERS_PYTHON), str(SCRIPTS / script), str(slice_of(data, WARM_UP_ROWS))]
    subprocess.run(command, check=True, capture_output=True)


def peer(script: str, data: Path) -> tuple[Took, dict[str, object]]:
    """The peer script's run and the JSON it printed last; raises with the peer's own error."""
    took, done = _timed([str(PEERS_PYTHON), str(SCRIPTS / script), str(data)])
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return took, json.loads(done.stdout.strip().splitlines()[-1])
