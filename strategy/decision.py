"""The strategy's decision for one bar: enter, exit or nothing, under the cooldown since the
symbol's last signal, each signal counted and recorded; it owns the current parameters."""

from __future__ import annotations

from strategy.book import Book
from strategy.clock import Clock
from strategy.engine_outputs import EngineCounters
from strategy.order_ids import client_order_id
from strategy.params import StrategyParams
from strategy.recorder import Recorder, keeps
from strategy.signals import entry_limit_price, entry_side, position_size, should_exit
from strategy.stats import SignalStats
from strategy.types import Bar, Intent, OrderRequest, OrderType, Side, TimeInForce


class Decision:
    def __init__(
        self,
        *,
        params: StrategyParams,
        book: Book,
        clock: Clock,
        recorder: Recorder,
        counters: EngineCounters,
        order_prefix: str,
    ) -> None:
        self.params = params
        self._book = book
        self._clock = clock
        self._recorder = recorder
        self._records_signals = keeps(recorder, "signals")
        self._counters = counters
        self._order_prefix = order_prefix
        self._last_signal_ts: dict[str, float] = {}

    def decide(self, bar: Bar, stats: SignalStats, bar_end: float) -> OrderRequest | None:
        """Most bars end at the first threshold test; the cooldown is read only for a signal."""
        symbol = bar.symbol
        z = stats.z
        position = self._book.position(symbol)
        if position is not None:
            params = position.entry_params or self.params
            if not should_exit(z, params.exit_z) or self._cooling_down(symbol, bar_end):
                return None
            side = Side.SELL if position.qty > 0 else Side.BUY
            qty, order_type, limit, intent = abs(position.qty), OrderType.MARKET, None, Intent.EXIT
        else:
            params = self.params
            entry = entry_side(z, params.entry_z)
            if entry is None or self._cooling_down(symbol, bar_end):
                return None
            side = entry
            qty = position_size(
                self._book.equity(), params.risk_pct, stats.vol, bar.close, params.max_qty
            )
            if qty <= 0:
                return None
            order_type, intent = OrderType.LIMIT, Intent.ENTRY
            limit = entry_limit_price(bar.close, side, params.entry_offset)
        self._last_signal_ts[symbol] = bar_end
        self._counters.signals += 1
        if self._records_signals:
            self._recorder.record(
                "signals",
                {
                    "ts": bar_end,
                    "symbol": symbol,
                    "z": z,
                    "vol": stats.vol,
                    "side": str(side),  # the value (see book.order_row)
                    "price": bar.close,
                    "action": str(intent),
                },
            )
        return OrderRequest(
            client_order_id=client_order_id(symbol, bar.ts, intent, self._order_prefix),
            symbol=symbol,
            side=side,
            qty=qty,
            type=order_type,
            tif=TimeInForce.IOC,
            limit_price=limit,
            decision_price=bar.close,
            intent=intent,
            created_ts=self._clock.now(),
        )

    def _cooling_down(self, symbol: str, bar_end: float) -> bool:
        last = self._last_signal_ts.get(symbol)
        return last is not None and bar_end - last < self.params.cooldown_sec
