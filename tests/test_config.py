"""Config: the shipped file, every error message, sources, overrides and the mappings."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.config.settings import ConfigError, find_param, load_settings, parse_value
from strategy.params import RiskLimits, StrategyParams
from tests.support import REPO


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_the_shipped_config_loads_with_the_documented_defaults() -> None:
    """config.yaml at the repo root matches the built-in defaults."""
    settings = load_settings(REPO / "config.yaml")
    assert settings.strategy_params() == StrategyParams()
    assert settings.risk_limits() == RiskLimits()
    assert settings.symbols == ("SPY", "QQQ", "IWM", "AAPL", "MSFT")
    assert settings.source("strategy.lookback") == "file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("strategy:\n  entry_z: 2\n", "unknown key strategy.entry_z (did you mean"),
        ("stratgy:\n  lookback: 2\n", "unknown key stratgy.lookback"),
        (
            "strategy:\n  lookback: twenty\n",
            "strategy.lookback = 'twenty' should be a whole number",
        ),
        (
            "strategy:\n  entry_z_threshold: -1\n",
            "strategy.entry_z_threshold = -1 is out of range (0.1 .. 10)",
        ),
        ("strategy:\n  exit_z_threshold: 2.5\n", "exit_z_threshold (2.5) must be below"),
        ("strategy:\n  symbols: [spy]\n", "'spy' is not an upper-case ticker"),
        ("strategy:\n  symbols: []\n", "strategy.symbols is empty"),
        ("broker:\n  name: ib\n", "broker.name = 'ib' is not one of sim, alpaca"),
        ("strategy:\n  lookback: [1\n", "line 3: not valid YAML"),
    ],
)
def test_invalid_files_name_the_key_value_and_range(
    tmp_path: Path, text: str, message: str
) -> None:
    """Each mistake stops loading with a message naming what is wrong."""
    with pytest.raises(ConfigError) as error:
        load_settings(config_file(tmp_path, text))
    assert message in str(error.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """No config file: say which path was looked for."""
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")


def test_sources_default_file_override_env(tmp_path: Path) -> None:
    """Each value remembers its layer; the environment wins over everything."""
    path = config_file(tmp_path, "strategy:\n  lookback: 30\njournal:\n  path: a.db\n")
    settings = load_settings(
        path,
        overrides={"strategy.entry_z_threshold": "2.5", "journal.path": "b.db"},
        env={"TRADEBOT_DB": "c.db", "ALPACA_API_KEY": "not a setting"},
    )
    assert settings.source("strategy.max_qty") == "default"
    assert (settings.get("strategy.lookback"), settings.source("strategy.lookback")) == (30, "file")
    assert settings.get("strategy.entry_z_threshold") == 2.5
    assert settings.source("strategy.entry_z_threshold") == "override"
    assert (settings.get("journal.path"), settings.source("journal.path")) == ("c.db", "env")


def test_with_and_without_override(tmp_path: Path) -> None:
    """An override replaces the file value; removing it restores the file value."""
    settings = load_settings(config_file(tmp_path, "strategy:\n  max_qty: 50\n"))
    changed = settings.with_override("strategy.max_qty", 75)
    assert (
        changed.strategy_params().max_qty == 75 and changed.source("strategy.max_qty") == "override"
    )
    restored = changed.without_override("strategy.max_qty")
    assert restored.get("strategy.max_qty") == 50 and restored.source("strategy.max_qty") == "file"
    with pytest.raises(ConfigError, match="must be below"):
        settings.with_override("strategy.exit_z_threshold", 3.0)


def test_an_override_that_no_longer_validates_is_reported(tmp_path: Path) -> None:
    """A persisted override outside today's range stops start-up, named as an override."""
    with pytest.raises(ConfigError, match="override from the journal"):
        load_settings(REPO / "config.yaml", overrides={"strategy.max_qty": "0"})


def test_find_param_by_short_name_or_path() -> None:
    """Short names and dotted paths both work, case-insensitively; unknown names suggest."""
    assert find_param("ENTRY_Z").path == "strategy.entry_z_threshold"
    assert find_param("risk.max_order_notional").hot
    with pytest.raises(ConfigError, match="did you mean entry_z"):
        find_param("entry_zz")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("entry_z", "abc", "entry_z: 'abc' is not a number"),
        ("lookback", "20.5", "lookback: '20.5' is not a whole number"),
        ("risk_pct", "0.5", "out of range (0.0001 .. 0.1)"),
    ],
)
def test_parse_value_messages(name: str, text: str, message: str) -> None:
    """Operator input is checked with the same ranges as the file."""
    with pytest.raises(ConfigError) as error:
        parse_value(find_param(name), text)
    assert message in str(error.value)
