"""Incidents restored at start-up that this run can close: each one either still holds (and is
raised again) or closes; none stays open forever, reported at every start."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from pathlib import Path

from tests.support import make_harness, spawn_tradebot, write_config


def open_at_exit(journal: Path, key: str) -> bool:
    with sqlite3.connect(journal) as db:
        row = db.execute(
            "select status from alerts where key = ? and status in ('open', 'resolved') "
            "order by id desc limit 1",
            (key,),
        ).fetchone()
    return row is not None and row[0] == "open"


async def run_once(config: Path) -> str:
    """One `tradebot run` of a second; its log."""
    proc = await spawn_tradebot(config, "--duration", "1", "--speed", "0")
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return err.decode()


async def test_a_health_endpoint_incident_resolves_once_the_port_binds(tmp_path: Path) -> None:
    """A real `tradebot run` whose health port is taken opens `health-endpoint`; the next run,
    with the port free, resolves it once the endpoint listens, and the run after that no
    longer reports it "still open from the last run"."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, **{"monitoring.health_port": port})
        await run_once(config)
    journal = tmp_path / "journal.db"
    assert open_at_exit(journal, "health-endpoint")
    await run_once(config)
    assert not open_at_exit(journal, "health-endpoint")
    assert "health-endpoint" not in await run_once(config)


async def test_incidents_each_run_checks_afresh_close_at_the_next_start(tmp_path: Path) -> None:
    """Slack, the journal, the clock, Alpaca's credentials, a past feed gap, the last start-up
    recovery and a NOT FLAT kill (the book flat now): left open by a run, closed by the next
    start, which raises again only what still holds in it."""
    stale = (
        "slack",
        "slack-lost",
        "journal",
        "clock-skew",
        "broker-auth",
        "feed-auth",
        "feed-gap",
        "startup",
        "kill",
    )
    first = make_harness(tmp_path)
    await first.service.start()
    for key in (*stale, "reconcile:SPY"):
        first.service.alert(key, "critical", f"{key} from the first run")
    await first.service.stop()
    again = make_harness(tmp_path)
    again.service.alert("journal", "critical", "journal unhealthy in this run too")
    await again.service.start()
    assert set(again.service.open_alerts) == {"journal", "reconcile:SPY"}
    assert again.service.open_alerts["journal"] == "journal unhealthy in this run too"
    await again.service.stop()
