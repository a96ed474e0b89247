"""Choosing the venue at start-up: what stops an Alpaca start before any order could be sent."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.venues import StartupError, build_alpaca
from ops.config.settings import load_settings
from strategy.venue import BrokerAuthError
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
        (
            {
                "broker.base_url": "http://127.0.0.1:9",
                "broker.timeout_sec": 1,
                "broker.startup_attempts": 2,
                "broker.startup_retry_sec": 0.01,
            },
            KEYS,
            "cannot reach the Alpaca account after 2 tries",
        ),
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


async def test_a_start_retries_a_transient_account_failure_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """GET /v2/account answers 503 once: the start logs the retry and goes on."""
    caplog.set_level(logging.WARNING)
    async with AlpacaFake(cash=25_000.0) as alpaca:
        alpaca.fail_next("GET", "/v2/account", 503)
        config = {"broker.base_url": alpaca.trading_url, "broker.startup_retry_sec": 0.01}
        venue = await build_alpaca(settings(tmp_path, **config), KEYS)
        assert alpaca.requests.count(("GET", "/v2/account")) == 2
    assert venue.starting_cash == 25_000.0
    (line,) = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert "503" in line and "retry 2/5 in 0.0s" in line


async def test_refused_keys_stop_the_start_at_once(tmp_path: Path) -> None:
    """A 401 is not retried: the start stops with the reason and what to check."""
    async with AlpacaFake() as alpaca:
        config = {"broker.base_url": alpaca.trading_url}
        wrong = {**KEYS, "ALPACA_API_KEY": "PKWRONG"}
        with pytest.raises(StartupError, match=r"refused the credentials.*ALPACA_API_KEY"):
            await build_alpaca(settings(tmp_path, **config), wrong)
        assert alpaca.requests.count(("GET", "/v2/account")) == 1


async def test_the_venues_incidents_go_where_the_service_wires_them(tmp_path: Path) -> None:
    """report_to: a refusal on the venue reaches the callbacks the service passes."""
    problems: list[tuple[str, str, str]] = []
    async with AlpacaFake() as alpaca:
        venue = await build_alpaca(
            settings(tmp_path, **{"broker.base_url": alpaca.trading_url}), KEYS
        )
        venue.report_to(lambda *a: problems.append(a), lambda *a: None)
        alpaca.fail_next("GET", "/v2/account", 401, 40110000)
        with pytest.raises(BrokerAuthError):
            await venue.broker.account()
    assert [p[0] for p in problems] == ["broker-auth"]
