"""The soak's inputs, all drawn from one seed: a day of minute bars per symbol (with the quote
orders execute at) and the fault schedule, both indexed by the bar (market minute).

Bar timestamps start at the wall-clock minute the day begins and step 60 s per bar, so a
compressed day runs ahead of the wall clock. That is what lets it trade with the shipped guards:
the engine's clock is the wall clock, an entry is refused when `now - bar_end > stale_bar_sec`
and the price collar refuses a last price older than `reference_max_age_sec`; a bar from the
future is never stale. (A day ending "now" would need both limits above 6.5 hours.) The price
of that choice: a REST backfill after a market-data reconnect asks for bars up to "now", which
is before them, so bars pushed while the data stream is down are simply missed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

MINUTES = 390  # one regular session
WARMUP = 25  # bars before the first fault: the rolling window fills first
FAULT_EVERY = 20  # bars between faults, on average (about 3.5 s at the soak's cadence)
SIGKILL_AT = 200  # the bar at which the process is killed mid-order and restarted
BASE_PRICES = {"SPY": 500.0, "QQQ": 400.0, "IWM": 200.0, "AAPL": 190.0, "MSFT": 420.0}
STEP_SIGMA = 0.0008  # log-return sigma per minute
JUMP_PROB = 0.06  # chance of a 3-6 sigma move: what the mean-reversion entries trade
QUOTE_SPREAD = 0.003  # orders execute at close x (1 +/- up to this): some entry limits fill
CLOSING_DROP_SIGMA = 8.0  # the last bar's fall: buy signals on every symbol not busy

FAULT_KINDS = (
    "data_drop",  # the market-data websocket closes
    "trading_drop",  # the trade_updates websocket closes
    "trading_drop_429",  # it closes and the next order re-reads answer 429
    "rate_limit",  # the next order submission answers 429 (not placed)
    "error_after_place",  # the next order is placed, then answered 503
    "timeout",  # the next order is placed, its reply comes after broker.timeout_sec
    "partial_fill",  # the next order fills 1 share only
    "stubborn_close",  # the next two orders reducing a held symbol are refused (403)
)
SIGKILL = "sigkill_restart"


@dataclass(frozen=True, slots=True)
class Quote:
    close: float
    quote: float


@dataclass(frozen=True, slots=True)
class Fault:
    bar: int
    kind: str


def day_of_bars(symbols: tuple[str, ...], seed: int) -> list[dict[str, Quote]]:
    """MINUTES rows, one Quote per symbol each: a random walk with occasional jumps, closing
    on a sell-off whose quotes fill the buy entries it triggers, so the final kill has
    positions to flatten."""
    rng = random.Random(seed)
    prices = {s: BASE_PRICES.get(s, 100.0) for s in symbols}
    day: list[dict[str, Quote]] = []
    for minute in range(MINUTES):
        closing = minute == MINUTES - 1
        row = {}
        for symbol in symbols:
            r = rng.gauss(0.0, STEP_SIGMA)
            if closing:
                r = -CLOSING_DROP_SIGMA * STEP_SIGMA
            elif rng.random() < JUMP_PROB:
                r += rng.choice((-1, 1)) * rng.uniform(3, 6) * STEP_SIGMA
            prices[symbol] *= math.exp(r)
            close = round(prices[symbol], 2)
            move = -QUOTE_SPREAD if closing else rng.uniform(-QUOTE_SPREAD, QUOTE_SPREAD)
            row[symbol] = Quote(close, round(close * (1 + move), 2))
        day.append(row)
    return day


def fault_schedule(seed: int) -> list[Fault]:
    """A fault every ~FAULT_EVERY bars after the warm-up, each kind at least twice, in a
    seeded order, plus one SIGKILL-and-restart at SIGKILL_AT."""
    rng = random.Random(seed + 1)
    bars = []
    at = WARMUP
    while at < MINUTES - 10:
        bars.append(at)
        at += FAULT_EVERY + rng.randint(-5, 5)
    kinds = list(FAULT_KINDS) * 2
    kinds += [rng.choice(FAULT_KINDS) for _ in range(max(0, len(bars) - len(kinds)))]
    rng.shuffle(kinds)
    faults = [Fault(bar, kind) for bar, kind in zip(bars, kinds, strict=False)]
    return sorted([*faults, Fault(SIGKILL_AT, SIGKILL)], key=lambda f: f.bar)
