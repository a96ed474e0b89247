"""The replay runs the engine's queued submits itself (ops/backtest/fast.run_submits)."""

import asyncio

import pytest

from ops.backtest.fast import run_submits


def test_queued_submits_run_in_order_and_one_queued_meanwhile_waits() -> None:
    """As the event loop runs tasks at a yield: in the order queued; a submit queued while
    they run waits for the next yield."""
    ran: list[str] = []
    queued: list = []

    async def submit(name: str, then: str | None = None) -> None:
        ran.append(name)
        if then is not None:
            queued.append(submit(then))

    queued.extend([submit("a", then="c"), submit("b")])
    run_submits(queued)
    assert ran == ["a", "b"]
    run_submits(queued)
    assert ran == ["a", "b", "c"]
    assert queued == []


async def test_a_submit_that_waits_is_an_error_not_a_hang() -> None:
    """The simulated broker answers at once; a submit that suspends is stopped and named."""

    async def waits() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="must answer at once"):
        run_submits([waits()])
