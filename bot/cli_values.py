"""Command-line numbers are checked like config values: the same ranges and the same wording
(`tradebot: --speed = -1 is out of range (0 .. 1e+07)`, exit 2), before anything starts."""

from __future__ import annotations

import argparse

from ops.config.param_spec import ParamSpec, check_value
from ops.config.params_registry import BY_PATH

DAY = 86_400.0
YEAR = 365 * DAY

# option -> its range: a config key's spec where the option overrides one, else its own
RANGES: dict[str, dict[str, ParamSpec]] = {
    "run": {
        "speed": BY_PATH["sim.speed"],
        "duration": ParamSpec("duration", float, None, "seconds to run", 0.001, YEAR),
    },
    "watchdog": {
        "interval": ParamSpec("interval", float, None, "seconds between polls", 0.1, DAY),
        "repeat": ParamSpec("repeat", float, None, "re-alert interval", 1, DAY),
        "duration": ParamSpec("duration", float, None, "seconds to run", 0.001, YEAR),
    },
    "backtest": {
        "days": ParamSpec("days", float, None, "sessions of synthetic bars", 0.01, 5_000),
        "seed": ParamSpec("seed", int, None, "seed of bars and draws", 0, 2**32 - 1),
    },
}


def check(args: argparse.Namespace) -> None:
    """Raise ConfigError naming the first option whose value is out of its range."""
    for name, spec in RANGES.get(args.command, {}).items():
        value = getattr(args, name, None)
        if value is not None:
            check_value(spec, value, f"--{name}")
