"""Where the service's log lines go, and how repeats are held back.

The stderr handler writes to whatever `sys.stderr` is at the moment of each line, so while the
console's prompt is up (prompt_toolkit's patch_stdout) a log line prints above the prompt
instead of inside it. Refusals repeat for as long as their cause lasts (paused, halted, a
limit reached: the engine tries every bar), so each (symbol, rule) is logged once, then at
most once per window with how many were held back.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from strategy.market_day import market_time

REFUSAL_WINDOW_SEC = 60.0


class CurrentStderr:
    """A stream that is always the current `sys.stderr` (patched or not)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@dataclass
class _Seen:
    since: float
    held: int = 0


class RepeatLimiter(logging.Filter):
    """Passes a record that carries a `refusal` key ((symbol, rule), set by the engine) the
    first time, then at most once per `window` seconds, telling how many it held back."""

    def __init__(
        self, window: float = REFUSAL_WINDOW_SEC, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._window = window
        self._clock = clock
        self._seen: dict[object, _Seen] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = getattr(record, "refusal", None)
        if key is None:
            return True
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen.since < self._window:
            seen.held += 1
            return False
        self._seen[key] = _Seen(now)
        if seen is not None and seen.held:
            record.msg = f"{record.getMessage()} ({seen.held} more like it held back)"
            record.args = None
        return True


class MarketTimeFormatter(logging.Formatter):
    """Each line's time as every printed time is: New York's clock, labelled ET."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return market_time(record.created, datefmt or "%H:%M:%S")


def stderr_handler(limiter: RepeatLimiter | None = None) -> logging.Handler:
    """The service's log handler: current stderr, refusals rate-limited."""
    handler = logging.StreamHandler(CurrentStderr())  # type: ignore[arg-type]
    handler.addFilter(limiter or RepeatLimiter())
    handler.setFormatter(MarketTimeFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    return handler


def log_to_stderr(verbose: bool) -> None:
    """Every command's logging (the service and each cluster role): stderr, one format."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        handlers=[stderr_handler()],  # follows sys.stderr: above the console's prompt
    )
    if not verbose:  # they log every job run and every retry; our callers log failures
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        logging.getLogger("slack_sdk.web").setLevel(logging.WARNING)
