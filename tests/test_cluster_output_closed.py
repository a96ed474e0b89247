"""`tradebot cluster | head`: once whoever read the cluster's output has gone, the next line it
would print ends the cluster as `tradebot run`'s console ends on a closed stdout: quietly, every
role stopped cleanly, no traceback, nothing journaled as an incident."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import nats

from ops.cluster.acks import await_acks
from ops.cluster.config import cluster_config
from ops.cluster.control_requests import request_pause
from ops.cluster.credentials import ADMIN
from ops.cluster.permissions import password_variable
from ops.config.settings import load_settings
from ops.shared import messages
from tests.support import REPO, write_config

ADMIN_PASSWORD = "admin-password-of-this-test"
UP = (
    "order manager of main running",
    "p0,1,2,3,4,5,6,7 restored",
    "p8,9,10,11,12,13,14,15 restored",
)


def clean_env() -> dict[str, str]:
    prefixes = ("SLACK_", "ALPACA_", "TRADEBOT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**env, password_variable(ADMIN): ADMIN_PASSWORD}


async def test_a_closed_output_stops_the_cluster_quietly_and_cleanly(tmp_path: Path) -> None:
    """Every role up, the reader of the cluster's stdout goes away; a pause written then makes
    the order manager log a line the cluster cannot print: it stops every role (the order
    manager's journal ends with a clean stop, no error, no incident) and exits 0, saying on
    stderr why, with no traceback. Before, the pumps died on BrokenPipeError and the cluster ran
    on until a signal, then ended with a traceback."""
    config = write_config(tmp_path, **{"cluster.store_dir": str(tmp_path / "nats")})
    cfg = cluster_config(load_settings(config))
    read_fd, write_fd = os.pipe()  # the cluster's stdout: this end is `head`
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "bot", "cluster", "--config", str(config), "--speed", "60"),
        cwd=REPO,
        env=clean_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=write_fd,
        stderr=asyncio.subprocess.PIPE,
    )
    os.close(write_fd)
    out = asyncio.StreamReader()
    head, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(out), os.fdopen(read_fd, "rb", 0)
    )
    try:
        seen: list[str] = []
        while not all(any(up in line for line in seen) for up in UP):
            line = (await asyncio.wait_for(out.readline(), 120)).decode(errors="replace")
            assert line, "tradebot cluster ended:\n" + "".join(seen)
            seen.append(line)
        url = next(line for line in seen if line.startswith("[nats] JetStream on")).split()[3]
        head.close()  # as `head` does once it has its lines
        nc = await nats.connect(url, user=ADMIN, password=ADMIN_PASSWORD)
        try:
            js = nc.jetstream()
            revision = await request_pause(js, cfg, None, "U1", "a line nobody reads")
            await await_acks(js, cfg, "pause.global", revision, within_sec=30)
        finally:
            await nc.close()
        _, raw = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        if proc.returncode is None:  # its roles are stopped with it
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 60)
    code, err = proc.returncode, raw.decode(errors="replace")
    assert code == 0, err
    assert messages.CLUSTER_OUTPUT_CLOSED in err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    with sqlite3.connect(tmp_path / "journal.db") as db:
        events = [row[0] for row in db.execute("select event from runs order by id")]
        errors = db.execute("select count(*) from errors").fetchone()[0]
        incidents = db.execute("select key from alerts where key like 'error:%'").fetchall()
    assert events[-1] == "stop" and not errors and not incidents, (events, errors, incidents)
