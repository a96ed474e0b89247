"""The parameters the core runs on. ops/config/settings.py builds these from config.yaml +
overrides."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StrategyParams:
    """Signal and sizing thresholds. A position keeps the instance it was opened with."""

    lookback: int = 20
    entry_z: float = 2.0
    exit_z: float = 0.5
    entry_offset: float = 0.001
    cooldown_sec: float = 60.0
    risk_pct: float = 0.01
    max_qty: int = 100


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_order_qty: int = 500
    max_order_notional: float = 50_000.0
    max_position_qty: int = 1_000
    max_gross_exposure: float = 250_000.0
    max_orders_per_day: int = 400
    max_orders_per_minute: int = 30
    max_daily_loss_pct: float = 0.03
    price_collar_pct: float = 0.02
    reference_max_age_sec: float = 120.0
    stale_bar_sec: float = 180.0
