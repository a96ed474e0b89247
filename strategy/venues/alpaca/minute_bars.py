"""Alpaca's historical minute bars, read through alpaca-py's StockHistoricalDataClient."""

from __future__ import annotations

from datetime import UTC, datetime

from alpaca.data.enums import DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame

from strategy.types import Bar
from strategy.venues.alpaca.feed import bars_of
from strategy.venues.alpaca.timeouts import bound_requests


def fetch_minute_bars(
    symbols: list[str],
    start: str,
    end: str,
    api_key: str,
    secret_key: str,
    data_url: str,
    feed: str,
    timeout_sec: float,
) -> list[Bar]:
    """Blocking: run it in a thread. `start` and `end` are dates (YYYY-MM-DD, UTC)."""
    client = StockHistoricalDataClient(api_key, secret_key, url_override=data_url or None)
    bound_requests(client, timeout_sec)
    request = StockBarsRequest(
        symbol_or_symbols=symbols,
        timeframe=TimeFrame.Minute,
        start=datetime.fromisoformat(start).replace(tzinfo=UTC),
        end=datetime.fromisoformat(end).replace(tzinfo=UTC),
        feed=DataFeed.SIP if feed == "sip" else DataFeed.IEX,
    )
    return bars_of(client.get_stock_bars(request))
