"""`tradebot run` when what it needs at start-up does not answer: the broker's reads are retried
alike and a start that cannot complete stops in one line; an unreachable Slack is an incident
retried in the background, never a reason to ignore --duration or a signal."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.fakes.alpaca import AlpacaFake
from tests.support import eventually, spawn_tradebot, stop_tradebot, write_config
from tests.test_engine import CALM

KEYS = {"ALPACA_API_KEY": "PKTEST", "ALPACA_SECRET_KEY": "secret-test"}
CLOCK = ("GET", "/v2/clock")


def alpaca_env(alpaca: AlpacaFake) -> dict[str, str]:
    return {
        **KEYS,
        "ALPACA_TRADING_URL": alpaca.trading_url,
        "ALPACA_TRADING_STREAM_URL": alpaca.trading_stream_url,
        "ALPACA_DATA_STREAM_URL": alpaca.data_stream_url,
        "ALPACA_DATA_URL": alpaca.data_url,
    }


def alpaca_config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        **{
            "broker.name": "alpaca",
            "strategy.symbols": ["SPY", "QQQ"],
            "broker.startup_attempts": 3,
            "broker.startup_retry_sec": 0.01,
        },
    )


async def test_one_503_on_the_market_clock_at_start_up_is_retried_and_the_service_trades(
    tmp_path: Path,
) -> None:
    """GET /v2/clock answers 503 once: the read is retried (and said), the start completes,
    and a drop in SPY is bought at the loopback Alpaca."""
    async with AlpacaFake() as alpaca:
        alpaca.fail_next(*CLOCK, 503)
        proc = await spawn_tradebot(alpaca_config(tmp_path), **alpaca_env(alpaca))
        try:
            await eventually(lambda: alpaca._subscribed == {"SPY", "QQQ"}, within=30)
            base = (time.time() // 60) * 60 - 60 * 21  # bar 20 is the last complete minute
            for minute, close in enumerate(CALM):
                await alpaca.push_bar("SPY", base + 60 * minute, close)
            await alpaca.push_bar("SPY", base + 60 * 20, 98.0, quote=97.85)
            await eventually(lambda: alpaca.positions.get("SPY"), within=15)
        finally:
            _, err = await stop_tradebot(proc)
        assert proc.returncode == 0, err.decode()
        assert alpaca.requests.count(CLOCK) >= 2
        assert b"Alpaca market clock unreachable" in err and b"retry 2/3" in err
        assert b"Traceback" not in err


async def test_a_market_clock_that_never_answers_stops_the_start_in_one_line(
    tmp_path: Path,
) -> None:
    """GET /v2/clock answers 503 every time: after broker.startup_attempts reads the start
    stops with exit status 2 and one line naming the read, no traceback."""
    async with AlpacaFake() as alpaca:
        alpaca.fail_next(*CLOCK, 503, times=1_000_000)
        proc = await spawn_tradebot(alpaca_config(tmp_path), **alpaca_env(alpaca))
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2, err.decode()
        assert alpaca.requests.count(CLOCK) == 3
    lines = err.decode().splitlines()
    assert [line for line in lines if line.startswith("tradebot:")] == [lines[-1]]
    assert lines[-1].startswith("tradebot: cannot reach the Alpaca market clock after 3 tries")
    assert "Traceback" not in err.decode()
