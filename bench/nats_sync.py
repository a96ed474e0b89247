"""`python -m bench.nats_sync`: what nats-server's `sync_interval` costs on this machine.

For each setting, a fresh nats-server on loopback with a file-stored stream (as the cluster's):
MESSAGES intent-sized messages published one at a time, each PubAck awaited (how a worker's
intent goes), then MESSAGES pipelined (all sent, then every PubAck awaited: how the order
manager's updates go). Milliseconds per stored message, median of ROUNDS interleaved rounds.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

import nats
from nats.js.api import StorageType, StreamConfig

from ops.cluster.server import server_binary

MESSAGES = 300
ROUNDS = 3
SETTINGS = ("sync_interval: always", "sync_interval: 1s", "")  # "" = the server's default, 2m
_LISTENING = re.compile(rb"Listening for client connections on [\d.]+:(\d+)")


async def _one(setting: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as scratch:
        conf = Path(scratch) / "nats.conf"
        conf.write_text(f"jetstream {{\n  {setting}\n}}\n")
        proc = await asyncio.create_subprocess_exec(
            server_binary(), "-c", str(conf), "-a", "127.0.0.1", "-p", "-1",
            "-sd", str(Path(scratch) / "store"), stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stderr is not None
        port = None
        while port is None:
            found = _LISTENING.search(await proc.stderr.readline())
            port = int(found.group(1)) if found else None
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name="T", subjects=["t.>"], storage=StorageType.FILE))
            body = b"x" * 300
            started = time.perf_counter()
            for i in range(MESSAGES):
                await js.publish(f"t.{i % 16}", body, headers={"Nats-Msg-Id": f"a{i}"})
            one_by_one = (time.perf_counter() - started) / MESSAGES * 1000
            started = time.perf_counter()
            futures = [
                await js.publish_async(f"t.{i % 16}", body, headers={"Nats-Msg-Id": f"b{i}"})
                for i in range(MESSAGES)
            ]
            await asyncio.gather(*futures)
            pipelined = (time.perf_counter() - started) / MESSAGES * 1000
        finally:
            await nc.close()
            proc.terminate()
            await proc.wait()
        return one_by_one, pipelined


async def _measure() -> None:
    results: dict[str, list[tuple[float, float]]] = {s: [] for s in SETTINGS}
    for _ in range(ROUNDS):
        for setting in SETTINGS:
            results[setting].append(await _one(setting))
    for setting, runs in results.items():
        one_by_one = statistics.median(r[0] for r in runs)
        pipelined = statistics.median(r[1] for r in runs)
        print(
            f"{setting or 'default (sync_interval: 2m)':28s} one at a time {one_by_one:6.2f} ms, "
            f"pipelined {pipelined:6.3f} ms a message"
        )


if __name__ == "__main__":
    asyncio.run(_measure())
