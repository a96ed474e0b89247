"""Shared fixtures: a clean environment for every test (nothing may leave 127.0.0.1)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ops.cluster.permissions import Layout
from ops.cluster.server import LocalNats
from tests.slack_rig import Rig, start_rig

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


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """A running Slack surface over a simulated service, on the loopback Slack."""
    slack, h, surface = await start_rig(tmp_path)
    yield Rig(slack, h, surface)
    await surface.stop()
    await h.service.stop()
    await slack.__aexit__()


# the accounts and strategies the cluster tests name; each has its own NATS user
TEST_LAYOUT = Layout(
    accounts=("main", "other"),
    strategies={"MeanReversionV1": "main", "Momentum": "other", "Twin": "main"},
    partitions=16,
)


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[LocalNats]:
    """A real `nats-server -js` on a free 127.0.0.1 port, its store under tmp_path, with a user
    per role of TEST_LAYOUT (`server.connect()` is the admin, `server.env(user)` a role's).
    A role refused something it needed fails the test: the server logged the violation."""
    server = LocalNats(tmp_path / "nats", layout=TEST_LAYOUT)
    await server.start()
    yield server
    await server.stop()
    assert not server.violations, "\n".join(server.violations)
