"""alpaca-py's private parts we rely on (strategy/venues/alpaca/internals.py) are pinned: the
installed release still has each of them, pyproject.toml bounds alpaca-py to the tested
range, and a release without one fails at start naming the attribute and the version
(issue 24, item 5)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.stock import StockDataStream
from alpaca.trading.client import TradingClient
from alpaca.trading.stream import TradingStream
from packaging.requirements import Requirement
from packaging.version import Version

from strategy.venues.alpaca.broker import AlpacaBroker
from strategy.venues.alpaca.internals import (
    CLIENT_ATTRIBUTES,
    STREAM_METHODS,
    TESTED_VERSION,
    AlpacaInternalsChanged,
    installed_version,
    require,
)
from strategy.venues.alpaca.timeouts import bound_requests
from tests.fakes.alpaca import AlpacaFake

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def alpaca_requirement() -> Requirement:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (spec,) = [d for d in dependencies if Requirement(d).name == "alpaca-py"]
    return Requirement(spec)


@pytest.mark.parametrize("client_class", [TradingClient, StockHistoricalDataClient])
@pytest.mark.parametrize("attribute", CLIENT_ATTRIBUTES)
def test_each_rest_client_still_has_the_attributes_we_set(
    client_class: type, attribute: str
) -> None:
    """A real client (built offline) has `_session` and `_retry`; a failure names which and
    the installed alpaca-py."""
    require(client_class("PKTEST", "secret-test"), attribute)


@pytest.mark.parametrize("stream_class", [TradingStream, StockDataStream])
@pytest.mark.parametrize("method", STREAM_METHODS)
def test_each_stream_still_has_the_methods_we_run_and_extend(
    stream_class: type, method: str
) -> None:
    """`_run_forever`, `_dispatch` and `_auth` are still alpaca-py's stream methods."""
    require(stream_class, method)


async def test_a_vanished_attribute_is_named_with_the_installed_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A release without TradingStream._auth: the broker refuses to start its stream and says
    which attribute is gone, in which alpaca-py, and which version was tested."""
    monkeypatch.delattr(TradingStream, "_auth")
    async with AlpacaFake() as alpaca:
        broker = AlpacaBroker.connect(
            "PKTEST",
            "secret-test",
            True,
            alpaca.trading_url,
            alpaca.trading_stream_url,
            requests_per_min=60_000,
            commission_per_share=0.0,
            timeout_sec=2.0,
        )
        with pytest.raises(AlpacaInternalsChanged) as refused:
            await broker.start()
        assert alpaca.trading_connections == 0
    message = str(refused.value)
    assert "TradingStream._auth" in message
    assert f"alpaca-py {installed_version()}" in message
    assert TESTED_VERSION in message


def test_a_client_without_its_session_is_refused_before_any_request() -> None:
    """Setting a time limit on a client that no longer has `_session` raises instead of
    adding an attribute nothing reads (which would leave every request unbounded)."""
    client = TradingClient("PKTEST", "secret-test")
    del client._session
    with pytest.raises(AlpacaInternalsChanged, match=r"TradingClient\._session"):
        bound_requests(client, 1.0)


def test_pyproject_bounds_alpaca_py_to_the_tested_range() -> None:
    """alpaca-py has an upper bound in pyproject.toml, and both the installed release and the
    one internals.py was checked against lie inside it."""
    specifier = alpaca_requirement().specifier
    assert any(s.operator in ("<", "<=", "==", "~=") for s in specifier), (
        f"alpaca-py is not bounded above in pyproject.toml ({specifier}): a new release could "
        "silently change the private parts internals.py relies on"
    )
    assert Version(installed_version()) in specifier
    assert Version(TESTED_VERSION) in specifier
