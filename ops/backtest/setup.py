"""How the settings become a backtest's setup and its default costs: one place, so that
`tradebot backtest` and the preview of a change (ops/control/preview.py) run the same thing."""

from __future__ import annotations

from ops.backtest.run import Costs, Setup
from ops.config.settings import Settings


def article_costs(settings: Settings) -> Costs:
    """`tradebot backtest`'s default frictions: the article's slippage, the config's
    commission."""
    return Costs(commission_per_share=settings.number("broker.commission_per_share"))


def backtest_setup(settings: Settings, costs: Costs, seed: int | None = None) -> Setup:
    return Setup(
        symbols=settings.symbols,
        params=settings.strategy_params(),
        limits=settings.risk_limits(),
        costs=costs,
        starting_cash=settings.number("broker.starting_cash"),
        seed=seed if seed is not None else settings.integer("broker.seed"),
        bar_sec=settings.integer("sim.bar_sec"),
        vol_window=settings.integer("strategy.vol_window"),
    )
