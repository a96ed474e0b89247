"""A consume loop over a pull subscription ends when its task is cancelled, even when the fetch
answers the cancellation with TimeoutError (Python 3.11's asyncio.wait_for can, when the fetch's
own timeout fires at the same moment): stopping a worker or an order manager hung on it."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.js.errors import ServiceUnavailableError

from ops.cluster.pull import fetch_or_nothing


class RacingFetch:
    """A pull subscription with no messages whose fetch turns a cancellation into a timeout."""

    def __init__(self) -> None:
        self.fetches = 0
        self.waiting = asyncio.Event()

    async def fetch(self, batch: int = 1, timeout: float | None = 5) -> list[Msg]:  # noqa: ASYNC109 (nats-py's)
        self.fetches += 1
        self.waiting.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise TimeoutError from None
        return []


async def _consume(sub: RacingFetch) -> None:
    while True:
        await fetch_or_nothing(sub, 1, 0.01)  # type: ignore[arg-type]


async def test_a_cancelled_consume_loop_ends_though_its_fetch_said_timeout() -> None:
    """The cancellation still pending on the task is raised, so the loop ends."""
    sub = RacingFetch()
    task = asyncio.create_task(_consume(sub))
    await sub.waiting.wait()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=30)  # a guard against a hang, not a measure
    assert task in done and task.cancelled()
    assert sub.fetches == 1


async def test_a_fetch_that_times_out_is_no_message() -> None:
    """An idle subscription is no error: no messages, fetch again."""

    class Empty:
        async def fetch(self, batch: int = 1, timeout: float | None = 5) -> list[Msg]:  # noqa: ASYNC109 (nats-py's)
            raise TimeoutError

    assert await fetch_or_nothing(Empty(), 1, 0.01) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("error", [ServiceUnavailableError(), ConnectionClosedError()])
async def test_a_server_that_is_away_is_no_message_after_a_pause(error: Exception) -> None:
    """JetStream unavailable or the connection closed (a server restarting): the loop lives on;
    it ended the order manager's intake for good at the first outage."""

    class Away:
        async def fetch(self, batch: int = 1, timeout: float | None = 5) -> list[Msg]:  # noqa: ASYNC109 (nats-py's)
            raise error

    assert await fetch_or_nothing(Away(), 1, 0.01) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("error", [ValueError("bad"), ConnectionError("gone")])
async def test_other_fetch_errors_are_not_hidden(error: Exception) -> None:
    """Only a timeout means "nothing yet"."""

    class Failing:
        async def fetch(self, batch: int = 1, timeout: float | None = 5) -> list[Msg]:  # noqa: ASYNC109 (nats-py's)
            raise error

    with pytest.raises(type(error)):
        await fetch_or_nothing(Failing(), 1, 0.01)  # type: ignore[arg-type]
