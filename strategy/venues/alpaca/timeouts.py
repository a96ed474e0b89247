"""A time limit on every Alpaca call (`broker.timeout_sec`). alpaca-py sets none on its REST
requests and offers no way to pass one (alpacahq/alpaca-py#415), so its clients get a session
that adds it (see internals.py); its websockets take theirs through the public
`websocket_params`."""

from __future__ import annotations

from typing import Any

import requests
from alpaca.common.rest import RESTClient

from strategy.venues.alpaca.internals import require

PING_INTERVAL_SEC = 10  # alpaca-py's own; its 180 s wait for the answer is what is bounded here
MAX_QUEUE = 1024  # alpaca-py's own


class TimeoutSession(requests.Session):
    """Every request through this session gives up after `timeout` seconds without an answer
    (to connect, or between bytes of the reply)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


def bound_requests(client: RESTClient, timeout_sec: float) -> None:
    """The client's requests time out after `timeout_sec`."""
    require(client, "_session")
    client._session = TimeoutSession(timeout_sec)


def stream_params(timeout_sec: float) -> dict[str, Any]:
    """websocket_params for an alpaca-py stream: the handshake, and the answer to each
    keep-alive ping, within `timeout_sec`; a silent socket is then closed and reconnected."""
    return {
        "open_timeout": timeout_sec,
        "ping_interval": PING_INTERVAL_SEC,
        "ping_timeout": timeout_sec,
        "max_queue": MAX_QUEUE,
    }
