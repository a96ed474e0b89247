"""Credentials refused by Alpaca: one clear line and one incident, never a traceback every few
seconds (issue 11, case 10). The real alpaca-py clients against the loopback Alpaca."""

from __future__ import annotations

import asyncio
import logging

import pytest

from strategy.clock import SystemClock
from strategy.venue import BrokerAuthError
from strategy.venues.alpaca.broker import AlpacaBroker
from strategy.venues.alpaca.feed import AlpacaFeed
from tests.fakes.alpaca import AlpacaFake
from tests.support import eventually


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> bool:
    return not any(record.exc_info for record in caplog.records)


def broker_for(alpaca: AlpacaFake) -> AlpacaBroker:
    return AlpacaBroker.connect(
        "PKTEST",
        "secret-test",
        True,
        alpaca.trading_url,
        alpaca.trading_stream_url,
        requests_per_min=60_000,
        commission_per_share=0.0,
        timeout_sec=2.0,
    )


async def test_a_refused_data_stream_logs_one_line_and_raises_feed_auth(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The data stream refuses the keys on every attempt: one warning naming feed-auth and
    the cause, no traceback; once accepted again, the incident is resolved."""
    caplog.set_level(logging.INFO)
    async with AlpacaFake() as alpaca:
        alpaca.refuse_stream_auth = True
        feed = AlpacaFeed.connect(
            "PKTEST", "secret-test", ("SPY",), SystemClock(), "iex", alpaca.data_stream_url, ""
        )
        waiting = asyncio.create_task(anext(aiter(feed.bars())))
        try:
            await eventually(lambda: alpaca.data_connections >= 2, within=10)
            loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(loud) == 1, [r.getMessage() for r in loud]
            assert "feed-auth" in loud[0].getMessage()
            assert "refused the market-data credentials" in loud[0].getMessage()
            assert no_tracebacks(caplog)
            alpaca.refuse_stream_auth = False
            await eventually(lambda: alpaca._subscribed == {"SPY"}, within=10)
            # the feed says so when the subscription's confirmation reaches it, after the fake
            # has recorded the subscription: wait for that, do not race it
            await eventually(
                lambda: any("feed-auth resolved" in r.getMessage() for r in caplog.records),
                within=10,
            )
        finally:
            waiting.cancel()
            await feed.stop()


async def test_a_refused_trading_stream_raises_broker_auth_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """trade_updates refuses the keys on every attempt: broker.on_problem gets one
    broker-auth incident, the log no traceback; accepted again, it is resolved."""
    problems: list[tuple[str, str, str]] = []
    recovered: list[tuple[str, str]] = []
    async with AlpacaFake() as alpaca:
        alpaca.refuse_stream_auth = True
        broker = broker_for(alpaca)
        broker.on_problem = lambda *a: problems.append(a)
        broker.on_recovered = lambda *a: recovered.append(a)
        await broker.start()
        try:
            await eventually(lambda: alpaca.trading_connections >= 2, within=10)
            ((key, severity, message),) = problems
            assert (key, severity) == ("broker-auth", "critical")
            assert "trade_updates stream" in message and "refused" in message
            assert no_tracebacks(caplog)
            alpaca.refuse_stream_auth = False
            await eventually(lambda: recovered, within=10)
            assert [k for k, _ in recovered] == ["broker-auth"] and len(problems) == 1
        finally:
            await broker.stop()


async def test_a_rest_401_raises_broker_auth_until_a_call_succeeds() -> None:
    """REST 401: the call raises BrokerAuthError and one broker-auth incident opens; the next
    call that works resolves it."""
    problems: list[tuple[str, str, str]] = []
    recovered: list[tuple[str, str]] = []
    async with AlpacaFake() as alpaca:
        broker = broker_for(alpaca)
        broker.on_problem = lambda *a: problems.append(a)
        broker.on_recovered = lambda *a: recovered.append(a)
        alpaca.fail_next("GET", "/v2/account", 401, 40110000, times=2)
        for _ in range(2):
            with pytest.raises(BrokerAuthError):
                await broker.account()
        assert [p[0] for p in problems] == ["broker-auth"]
        await broker.account()
        assert [k for k, _ in recovered] == ["broker-auth"]
