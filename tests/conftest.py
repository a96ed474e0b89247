"""Shared fixtures: a clean environment for every test (nothing may leave 127.0.0.1)."""

from __future__ import annotations

import os

import pytest

STRIPPED_PREFIXES = ("SLACK_", "ALPACA_", "TRADEBOT_")
STRIPPED_NAMES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(STRIPPED_PREFIXES) or name in STRIPPED_NAMES:
            monkeypatch.delenv(name, raising=False)
