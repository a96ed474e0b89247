"""Owning an alpaca-py websocket's lifecycle on our loop (its run() would call asyncio.run)."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class _Stream(Protocol):
    async def stop_ws(self) -> None: ...

    async def close(self) -> None: ...


async def stop_stream(stream: _Stream, task: asyncio.Task[Any]) -> None:
    """Stop at once: alpaca-py only notices stop_ws() after its 5 s receive timeout, so the
    task is canceled and the socket closed here (the account's one connection is freed)."""
    await stream.stop_ws()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await stream.close()
