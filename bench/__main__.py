"""`python -m bench [N ...]`: run the figures (all by default) and print the table."""

from __future__ import annotations

import logging
import sys
import time

from bench import (
    backtest_speed,
    calls,
    cluster,
    decision,
    journal_rate,
    kill,
    memory,
    memory_days,
    preview,
    reconnect,
    recovery,
    slack_ack,
    throughput,
)
from bench.common import machine

FIGURES = {
    1: decision.measure,
    2: throughput.measure,
    3: calls.measure,
    4: slack_ack.measure,
    5: kill.measure,
    6: memory.measure,
    7: recovery.measure,
    8: journal_rate.measure,
    9: memory_days.measure,
    10: reconnect.measure,
    11: backtest_speed.measure,
    12: cluster.measure,
    13: preview.measure,
}


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.ERROR)  # the service's own warnings are not figures
    chosen = [int(a) for a in argv] or sorted(FIGURES)
    print(f"machine: {machine()}")
    started = time.perf_counter()
    figures = []
    for number in chosen:
        found = FIGURES[number]()  # one figure, or several rows of one (11)
        figures.extend(found if isinstance(found, list) else [found])
    print(f"\nbenchmarks took {time.perf_counter() - started:.0f} s\n")
    print("| # | figure | ours | baseline (same process) | ratio | target | met |")
    print("|---|---|---|---|---|---|---|")
    for figure in figures:
        print(figure.row())
    missed = [f"#{f.number}" for f in figures if f.met is False]
    print(f"\ntargets missed: {', '.join(missed)}" if missed else "\nevery target met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
