"""A progress bar on stderr for long runs: redrawn in place on a terminal, a line per 10%
otherwise (so logs and CI output stay readable)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(self, label: str, out: TextIO = sys.stderr) -> None:
        self._label = label
        self._out = out
        self._tty = out.isatty()
        self._started = time.monotonic()
        self._last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        elapsed = time.monotonic() - self._started
        text = f"{self._label} {fraction:4.0%}  {done:,}/{total:,} bars  {elapsed:.1f}s"
        if self._tty:
            filled = int(WIDTH * fraction)
            bar = "#" * filled + "." * (WIDTH - filled)
            self._out.write(f"\r[{bar}] {text}" + ("\n" if done >= total else ""))
        elif int(fraction * 10) > self._last_tenth:
            self._last_tenth = int(fraction * 10)
            self._out.write(text + "\n")
        self._out.flush()
