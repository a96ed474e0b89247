"""Choosing the venue at start-up: what stops an Alpaca start before any order could be sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.venues import StartupError, build_alpaca
from ops.config import load_settings
from tests.fakes.alpaca import AlpacaFake
from tests.support import write_config

KEYS = {"ALPACA_API_KEY": "PKTEST", "ALPACA_SECRET_KEY": "secret-test"}


def settings(tmp_path: Path, **config: object):
    return load_settings(write_config(tmp_path, **{"broker.name": "alpaca", **config}))


@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        ({}, {}, "needs ALPACA_API_KEY and ALPACA_SECRET_KEY"),
        ({"broker.base_url": "https://api.alpaca.markets"}, KEYS, "paper is true but"),
        (
            {"broker.paper": False, "broker.base_url": "https://paper-api.alpaca.markets"},
            KEYS,
            "paper is false but",
        ),
        ({"broker.base_url": "http://127.0.0.1:9", "broker.timeout_sec": 1}, KEYS, "cannot reach"),
    ],
)
async def test_an_alpaca_start_refuses_with_a_reason(
    tmp_path: Path, config: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(StartupError, match=message):
        await build_alpaca(settings(tmp_path, **config), env)


async def test_a_paper_start_reads_the_account_and_warns_nothing(tmp_path: Path) -> None:
    async with AlpacaFake(cash=25_000.0) as alpaca:
        venue = await build_alpaca(
            settings(tmp_path, **{"broker.base_url": alpaca.trading_url}), KEYS
        )
    assert venue.starting_cash == 25_000.0
    assert venue.recover and venue.warnings == ()
