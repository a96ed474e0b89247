"""A cluster role stopped while it starts (its first NATS connection still waiting on a server
that has not answered) ends cleanly, as a role stopped while running does, not killed by the
signal's default action (exit -15)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support import spawn_tradebot, stop_tradebot, write_config


@pytest.mark.parametrize(
    "role", [("ingest",), ("worker", "--strategy", "MeanReversionV1", "--partitions", "0")]
)
async def test_a_role_stopped_while_connecting_ends_cleanly(
    tmp_path: Path, role: tuple[str, ...]
) -> None:
    reached, done = asyncio.Event(), asyncio.Event()

    async def silent(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.set()  # a server that accepts and never says INFO: the role waits to connect
        await done.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = write_config(tmp_path, **{"cluster.nats_url": f"nats://127.0.0.1:{port}"})
    proc = await spawn_tradebot(None, *role, "--config", str(config))
    try:
        await asyncio.wait_for(reached.wait(), 60)
    finally:
        _out, err = await stop_tradebot(proc)
        done.set()
        server.close()
        await server.wait_closed()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "stopped while starting" in err.decode()
    assert "Traceback" not in err.decode()
