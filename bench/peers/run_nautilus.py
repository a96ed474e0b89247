"""nautilus_trader: the BacktestEngine (low-level API), five equities on one venue."""

from __future__ import annotations

import sys
from decimal import Decimal

from common import CASH, ENTRY_Z, EXIT_Z, OFFSET, OHLCV, frames, report, size
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide, TimeInForce
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy

DEVIATION = (
    "bars are replayed as O/H/L/C ticks: an IOC limit would meet the signal bar's own close, so "
    "entries rest one bar and fill on touch; exits fill at the signal bar's close; final equity "
    "is cash (open positions unmarked); no risk gate"
)
VENUE = "XNAS"


class Config(StrategyConfig, frozen=True):
    bar_types: tuple[str, ...] = ()


class MeanReversion(Strategy):
    def __init__(self, config: Config, signals: dict) -> None:
        super().__init__(config)
        self.signals = signals  # (instrument id, ts ns) -> (z, vol)
        self.closed = 0
        self.working: dict = {}  # instrument id -> its resting entry

    def on_position_closed(self, event: object) -> None:
        self.closed += 1

    def on_start(self) -> None:
        for text in self.config.bar_types:
            self.subscribe_bars(BarType.from_str(text))

    def on_bar(self, bar: Bar) -> None:
        instrument_id = bar.bar_type.instrument_id
        z, vol = self.signals.get((instrument_id.symbol.value, bar.ts_event), (0.0, 0.0))
        close = float(bar.close)
        working = self.working.pop(instrument_id, None)
        if working is not None and working.is_open:  # an entry lives one bar, like an IOC
            self.cancel_order(working)
        flat = self.portfolio.is_flat(instrument_id)
        if flat and abs(z) > ENTRY_Z:
            qty = size(float(self.portfolio.account(Venue(VENUE)).balance_total(USD)), vol, close)
            if qty <= 0:
                return
            instrument = self.cache.instrument(instrument_id)
            buy = z < 0
            limit = close * (1 - OFFSET if buy else 1 + OFFSET)
            order = self.order_factory.limit(
                instrument_id,
                OrderSide.BUY if buy else OrderSide.SELL,
                instrument.make_qty(qty),
                instrument.make_price(limit),
                time_in_force=TimeInForce.GTC,
            )
            self.submit_order(order)
            self.working[instrument_id] = order
        elif not flat and abs(z) < EXIT_Z:
            self.close_all_positions(instrument_id)


def main(path: str) -> None:
    data = frames(path)
    engine = BacktestEngine(
        BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR", bypass_logging=True))
    )
    engine.add_venue(
        venue=Venue(VENUE),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(Decimal(str(CASH)), USD)],
    )
    signals, bar_types = {}, []
    for symbol, df in data.items():
        instrument = TestInstrumentProvider.equity(symbol=symbol, venue=VENUE)
        engine.add_instrument(instrument)
        bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
        bar_types.append(str(bar_type))
        frame = df[list(OHLCV)].astype({"volume": "int64"})  # float volumes: a read-only buffer
        bars = BarDataWrangler(bar_type, instrument).process(frame)
        engine.add_data(bars)
        for bar, z, vol in zip(bars, df["z"].fillna(0.0), df["vol"].fillna(0.0), strict=True):
            signals[(symbol, bar.ts_event)] = (z, vol)
    strategy = MeanReversion(Config(bar_types=tuple(bar_types)), signals)
    engine.add_strategy(strategy)
    engine.run()
    account = engine.portfolio.account(Venue(VENUE))
    equity = float(account.balance_total(USD))
    report(sum(len(df) for df in data.values()), strategy.closed, equity, DEVIATION)


if __name__ == "__main__":
    main(sys.argv[1])
