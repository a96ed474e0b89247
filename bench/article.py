"""The article's RealtimeStrategy (../shared/article.txt), re-implemented faithfully as the
baseline: its per-bar 'data layer' and feature code, and its per-bar broker calls."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from strategy.types import Bar


class ArticleFeatures:
    """on_bar up to the signal: append a dict per bar, rebuild numpy arrays from the window,
    np.diff/log/std/mean, then the cooldown check. No broker calls (figure 3 counts those)."""

    def __init__(self, symbols: tuple[str, ...], lookback: int = 20) -> None:
        self.lookback = lookback
        self.bars: dict[str, deque[dict[str, Any]]] = {s: deque(maxlen=lookback) for s in symbols}
        self.last_signal_time = {s: 0.0 for s in symbols}
        self.signal_cooldown = 60

    def features(self, bar: Bar) -> tuple[float, float] | None:
        symbol = bar.symbol
        self.bars[symbol].append(
            {"timestamp": bar.ts, "close": float(bar.close), "volume": int(bar.volume)}
        )
        if len(self.bars[symbol]) < self.lookback:
            return None
        closes = np.array([b["close"] for b in self.bars[symbol]])
        returns = np.diff(np.log(closes))
        volatility = np.std(returns[-10:]) * np.sqrt(252 * 390)
        if len(returns) > 1:
            z = (returns[-1] - np.mean(returns)) / (np.std(returns) + 1e-8)
        else:
            return None
        return float(z), float(volatility)

    def on_bar(self, bar: Bar) -> tuple[float, float] | None:
        computed = self.features(bar)
        if computed is None:
            return None
        if time.time() - self.last_signal_time[bar.symbol] < self.signal_cooldown:
            return None
        return computed


class ArticleStrategy(ArticleFeatures):
    """The whole on_bar with its broker calls, through alpaca-py's TradingClient: the position
    read on every bar past the cooldown, the account read on every entry, the order."""

    def __init__(self, client: Any, symbols: tuple[str, ...], lookback: int = 20) -> None:
        super().__init__(symbols, lookback)
        self.rest = client
        self.signal_cooldown = 0  # simulated bars come faster than the article's 60 s cooldown

    def on_bar(self, bar: Bar) -> None:  # type: ignore[override]
        computed = super().on_bar(bar)
        if computed is None:
            return
        z, volatility = computed
        position = self.get_position(bar.symbol)
        current_qty = int(float(position.qty)) if position else 0
        if abs(z) > 2.0 and current_qty == 0:
            side = OrderSide.BUY if z < -2.0 else OrderSide.SELL
            qty = self.calculate_position_size(bar.symbol, volatility)
            limit = round(bar.close * (0.999 if side is OrderSide.BUY else 1.001), 2)
            self.rest.submit_order(
                LimitOrderRequest(
                    symbol=bar.symbol,
                    qty=qty,
                    side=side,
                    time_in_force=TimeInForce.IOC,
                    limit_price=limit,
                )
            )
            self.last_signal_time[bar.symbol] = time.time()
        elif current_qty != 0 and abs(z) < 0.5:
            side = OrderSide.SELL if current_qty > 0 else OrderSide.BUY
            self.rest.submit_order(
                MarketOrderRequest(
                    symbol=bar.symbol,
                    qty=abs(current_qty),
                    side=side,
                    time_in_force=TimeInForce.IOC,
                )
            )

    def get_position(self, symbol: str) -> Any:
        try:
            return self.rest.get_open_position(symbol)
        except Exception:  # the article's bare except: "position doesn't exist"
            return None

    def calculate_position_size(self, symbol: str, volatility: float) -> int:
        account = self.rest.get_account()
        dollar_size = float(account.equity) * 0.01 / (2 * volatility + 1e-6)
        qty = int(dollar_size / self.bars[symbol][-1]["close"])
        return max(1, min(qty, 100))
