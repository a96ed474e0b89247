"""Figure 5: kill to flat with 100 open positions on the loopback Alpaca, through the real
alpaca-py clients: from the operator's Confirm to the broker verified flat."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

from bench.alpaca_rig import CASH, KEY, SECRET, alpaca_rig
from bench.common import Figure, symbols
from bot.account import control_parts
from ops.control.commands import CommandCore
from ops.control.confirm import Confirmations
from ops.service.recovery import recover
from ops.shared.results import ConfirmRequest, KillReport
from tests.fakes.alpaca import AlpacaFake

POSITIONS = 100
RUNS = 3
TARGET_SEC = 2.0


def _hold_positions(alpaca: AlpacaFake) -> None:
    for i, name in enumerate(symbols(POSITIONS)):
        alpaca.prices[name] = 50.0 + i
        alpaca.positions[name] = ((i % 7 + 1) * (1 if i % 2 else -1), 50.0 + i)


async def article_seconds() -> float:
    """The article's flatten_all_positions: list positions, one blocking market order each,
    in series; it never checks that the account is flat."""
    async with AlpacaFake(cash=CASH) as alpaca:
        _hold_positions(alpaca)
        client = TradingClient(KEY, SECRET, paper=True, url_override=alpaca.trading_url)

        def flatten_all_positions() -> None:
            for pos in client.get_all_positions():
                side = OrderSide.SELL if pos.side == "long" else OrderSide.BUY  # type: ignore[union-attr]
                qty = abs(int(float(pos.qty)))  # type: ignore[union-attr]
                order = MarketOrderRequest(
                    symbol=pos.symbol,
                    qty=qty,
                    side=side,
                    time_in_force=TimeInForce.DAY,  # type: ignore[union-attr]
                )
                client.submit_order(order)

        started = time.perf_counter()
        await asyncio.to_thread(flatten_all_positions)
        elapsed = time.perf_counter() - started
        assert not alpaca.positions
        return elapsed


async def kill_seconds(folder: Path) -> float:
    names = symbols(POSITIONS)
    async with AlpacaFake(cash=CASH) as alpaca:
        _hold_positions(alpaca)
        rig = alpaca_rig(alpaca, names, folder, requests_per_min=200.0)
        service = rig.service
        await rig.broker.start()
        await recover(service.broker_facing())
        await service.start()
        core = CommandCore(control_parts(service), Confirmations(time.time, False), time.time)
        request = await core.handle("kill", "U1", "C1", "bench")
        assert isinstance(request, ConfirmRequest)
        started = time.perf_counter()
        report = await core.confirm(request.nonce, "U1", "C1", "bench")
        elapsed = time.perf_counter() - started
        assert isinstance(report, KillReport) and report.flat, report
        assert not alpaca.positions and len(report.exits) == POSITIONS
        await rig.stop()
        return elapsed


def measure() -> Figure:
    print(f"  [5] {POSITIONS} positions, default pacing (200 requests/min), median of {RUNS}")
    with tempfile.TemporaryDirectory() as folder:
        runs = [asyncio.run(kill_seconds(Path(folder))) for _ in range(RUNS)]
        seconds = statistics.median(runs)
        article = statistics.median(asyncio.run(article_seconds()) for _ in range(RUNS))
    return Figure(
        5,
        "kill to verified flat",
        f"{seconds:.2f} s",
        f"{article:.2f} s (article: serial orders, not verified)",
        f"{article / seconds:.1f}x faster",
        f"< {TARGET_SEC:.0f} s",
        seconds < TARGET_SEC,
    )
