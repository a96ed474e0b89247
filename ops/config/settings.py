"""Typed, validated settings that remember where each value came from.

Precedence, lowest to highest: default < config.yaml < operator override (journal) < environment.
Secrets are not settings: tokens and keys are read only by the composition root.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml

from ops.config.param_spec import ParamSpec, check_value, parse_value
from ops.config.params_registry import BY_PATH, PARAMS, find_param
from ops.shared.errors import ConfigError
from strategy.params import RiskLimits, StrategyParams

__all__ = [
    "PARAMS",
    "ConfigError",
    "ParamSpec",
    "Settings",
    "find_param",
    "load_settings",
    "parse_value",
]

ENV_KEYS = {
    "TRADEBOT_DB": "journal.path",
    "ALPACA_TRADING_URL": "broker.base_url",
    "ALPACA_TRADING_STREAM_URL": "broker.trading_stream_url",
    "ALPACA_DATA_STREAM_URL": "broker.data_stream_url",
    "ALPACA_DATA_URL": "broker.data_url",
    "SLACK_API_URL": "slack.api_url",
    "TRADEBOT_NATS_URL": "cluster.nats_url",
}
HH_MM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
TICKER = re.compile(r"^[A-Z][A-Z.]{0,9}$")
RISK_FIELDS = (
    "max_order_qty",
    "max_order_notional",
    "max_position_qty",
    "max_gross_exposure",
    "max_orders_per_day",
    "max_orders_per_minute",
    "max_daily_loss_pct",
    "price_collar_pct",
    "reference_max_age_sec",
    "stale_bar_sec",
)


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, object]
    sources: Mapping[str, str]
    config_path: Path | None = None
    layers: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    def get(self, path: str) -> object:
        return self.values[path]

    def number(self, path: str) -> float:
        value = self.values[path]
        assert isinstance(value, int | float)
        return float(value)

    def integer(self, path: str) -> int:
        value = self.values[path]
        assert isinstance(value, int)
        return value

    def text(self, path: str) -> str:
        return str(self.values[path])

    def strings(self, path: str) -> tuple[str, ...]:
        value = self.values[path]
        assert isinstance(value, list)
        return tuple(str(v) for v in value)

    def clock_time(self, path: str) -> tuple[int, int]:
        hour, minute = self.text(path).split(":")
        return int(hour), int(minute)

    def source(self, path: str) -> str:
        return self.sources[path]

    def items(self) -> list[tuple[ParamSpec, object, str]]:
        return [(spec, self.values[spec.path], self.sources[spec.path]) for spec in PARAMS]

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.strings("strategy.symbols")

    def with_override(self, path: str, value: object) -> Settings:
        overrides = {**self.layers.get("override", {}), path: value}
        return _build(self.config_path, {**self.layers, "override": overrides})

    def without_override(self, path: str) -> Settings:
        overrides = {k: v for k, v in self.layers.get("override", {}).items() if k != path}
        return _build(self.config_path, {**self.layers, "override": overrides})

    def strategy_params(self) -> StrategyParams:
        return StrategyParams(
            lookback=self.integer("strategy.lookback"),
            entry_z=self.number("strategy.entry_z_threshold"),
            exit_z=self.number("strategy.exit_z_threshold"),
            entry_offset=self.number("strategy.entry_offset"),
            cooldown_sec=self.number("strategy.signal_cooldown_sec"),
            risk_pct=self.number("strategy.position_risk_pct"),
            max_qty=self.integer("strategy.max_qty"),
        )

    def risk_limits(self) -> RiskLimits:
        return RiskLimits(**{name: self.values[f"risk.{name}"] for name in RISK_FIELDS})  # type: ignore[arg-type]


def config_path(arg: str | None, env: Mapping[str, str]) -> Path:
    """--config, else $TRADEBOT_CONFIG, else ./config.yaml."""
    return Path(arg or env.get("TRADEBOT_CONFIG") or "config.yaml")


def load_settings(
    path: str | Path | None,
    overrides: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    file_values = _read_file(Path(path)) if path is not None else {}
    override_values = {}
    for key, text in (overrides or {}).items():
        spec = BY_PATH.get(key)
        if spec is None:
            raise ConfigError(f"override {key} (from the journal) is not a known setting")
        try:
            override_values[key] = parse_value(spec, text)
        except ConfigError as exc:
            raise ConfigError(f"override from the journal no longer valid: {exc}") from None
    env_values = {
        target: (env or {})[name] for name, target in ENV_KEYS.items() if (env or {}).get(name)
    }
    layers = {"file": file_values, "override": override_values, "env": env_values}
    return _build(Path(path) if path is not None else None, layers)


def _read_file(path: Path) -> dict[str, object]:
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{path.name}{where}: not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected sections (strategy:, risk:, ...) at the top")
    values: dict[str, object] = {}
    for section, body in data.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{path.name}: section {section!r} should hold keys")
        for key, value in body.items():
            dotted = f"{section}.{key}"
            spec = BY_PATH.get(dotted)
            if spec is None:
                close = difflib.get_close_matches(dotted, BY_PATH, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ConfigError(f"{path.name}: unknown key {dotted}{hint}")
            values[dotted] = check_value(spec, value, f"{path.name}: {dotted}")
    return values


def _build(path: Path | None, layers: Mapping[str, Mapping[str, object]]) -> Settings:
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for spec in PARAMS:
        values[spec.path], sources[spec.path] = spec.default, "default"
        for layer in ("file", "override", "env"):
            if spec.path in layers.get(layer, {}):
                values[spec.path], sources[spec.path] = layers[layer][spec.path], layer
    _cross_check(values, sources)
    return Settings(values, sources, path, {k: dict(v) for k, v in layers.items()})


def _cross_check(values: Mapping[str, object], sources: Mapping[str, str]) -> None:
    entry, exit_ = values["strategy.entry_z_threshold"], values["strategy.exit_z_threshold"]
    if not exit_ < entry:  # type: ignore[operator]
        raise ConfigError(
            f"strategy.exit_z_threshold ({exit_:g}) must be below strategy.entry_z_threshold "
            f"({entry:g})",  # type: ignore[str-format]
            paths=("strategy.entry_z_threshold", "strategy.exit_z_threshold"),
        )
    lookback, vol_window = values["strategy.lookback"], values["strategy.vol_window"]
    if not vol_window < lookback:  # type: ignore[operator]
        raise ConfigError(
            f"strategy.lookback ({lookback}) must exceed strategy.vol_window ({vol_window})",
            paths=("strategy.lookback", "strategy.vol_window"),
        )
    summary = str(values["slack.daily_summary_time"])
    if not HH_MM.match(summary):
        raise ConfigError(f"slack.daily_summary_time = {summary!r} should be HH:MM (New York time)")
    symbols = values["strategy.symbols"]
    assert isinstance(symbols, list)
    if not symbols:
        raise ConfigError("strategy.symbols is empty: list at least one ticker")
    bad = [s for s in symbols if not isinstance(s, str) or not TICKER.match(s)]
    if bad:
        raise ConfigError(f"strategy.symbols: {bad[0]!r} is not an upper-case ticker")
    if len(set(symbols)) != len(symbols):
        raise ConfigError("strategy.symbols lists a ticker twice")


class SettingsHolder(Protocol):
    """Whoever holds the settings in force and applies new ones at runtime (the service)."""

    @property
    def settings(self) -> Settings: ...

    def apply_settings(self, settings: Settings, apply_to_open: bool) -> None: ...
