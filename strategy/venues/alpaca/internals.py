"""What tradebot uses of alpaca-py beyond its public API, all in one place.

alpaca-py (checked up to TESTED_VERSION) has no public way to:
- give a REST client a time limit (alpacahq/alpaca-py#415): the client's `_session` is
  replaced by one that adds it (timeouts.py);
- turn a client's retries off: TradingClient does not pass RESTClient's `retry_attempts` on,
  and RESTClient ignores 0, so `_retry` is set to 0 (a blind retry of a POST could place a
  second order, and each retry sleeps 3 s in a worker thread; we own the retry policy);
- run a stream on a loop that is already running: its public `run()` calls asyncio.run, so
  `_run_forever()` runs as a task on ours;
- hear that a stream (re)subscribed, or refused our keys: its `_dispatch` and `_auth` are
  extended by our stream subclasses.

pyproject.toml pins alpaca-py to the range these were checked against. `require` fails at
once, naming the attribute and the installed version, where a release without one would
otherwise go on silently (no time limit, sleeping retries, hooks never called).
"""

from __future__ import annotations

from collections.abc import Coroutine
from importlib.metadata import version
from typing import Any

TESTED_VERSION = "0.44.0"
CLIENT_ATTRIBUTES = ("_session", "_retry")
STREAM_METHODS = ("_run_forever", "_dispatch", "_auth")


class AlpacaInternalsChanged(RuntimeError):
    """The installed alpaca-py lacks a private attribute tradebot relies on."""


def installed_version() -> str:
    return version("alpaca-py")


def require(owner: object, attribute: str) -> None:
    """`owner` (an alpaca-py class or client) still has `attribute`, or a clear error."""
    if not hasattr(owner, attribute):
        name = owner.__name__ if isinstance(owner, type) else type(owner).__name__
        raise AlpacaInternalsChanged(
            f"alpaca-py {installed_version()} has no {name}.{attribute}, which tradebot relies "
            f"on (checked with alpaca-py {TESTED_VERSION}); install the version range "
            "pyproject.toml pins"
        )


def no_retries(client: object) -> None:
    """The client sends each request once: a 429 or 504 comes back to us at once."""
    require(client, "_retry")
    client._retry = 0  # type: ignore[attr-defined]


def alpaca_class(stream: object) -> type:
    """The alpaca-py class a stream object is (or extends)."""
    for cls in type(stream).__mro__:
        if cls.__module__.startswith("alpaca."):
            return cls
    return type(stream)


def run_forever(stream: object) -> Coroutine[Any, Any, None]:
    """The stream's connect-and-reconnect loop, to be run as a task on the running loop."""
    base = alpaca_class(stream)
    for method in STREAM_METHODS:
        require(base, method)
    return stream._run_forever()  # type: ignore[attr-defined, no-any-return]
