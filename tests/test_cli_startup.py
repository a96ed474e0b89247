"""`tradebot run` when what it needs at start-up does not answer: the broker's reads are retried
alike and a start that cannot complete stops in one line; an unreachable Slack is an incident
retried in the background, never a reason to ignore --duration or a signal."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from ops.cluster.credentials import GATEWAY
from ops.cluster.server import LocalNats
from tests.fakes.alpaca import AlpacaFake
from tests.fakes.slack import Message, SlackFake
from tests.support import eventually, free_port, spawn_tradebot, stop_tradebot, write_config
from tests.test_engine import CALM

KEYS = {"ALPACA_API_KEY": "PKTEST", "ALPACA_SECRET_KEY": "secret-test"}
CLOCK = ("GET", "/v2/clock")


def alpaca_env(alpaca: AlpacaFake) -> dict[str, str]:
    return {
        **KEYS,
        "ALPACA_TRADING_URL": alpaca.trading_url,
        "ALPACA_TRADING_STREAM_URL": alpaca.trading_stream_url,
        "ALPACA_DATA_STREAM_URL": alpaca.data_stream_url,
        "ALPACA_DATA_URL": alpaca.data_url,
    }


def alpaca_config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        **{
            "broker.name": "alpaca",
            "strategy.symbols": ["SPY", "QQQ"],
            "broker.startup_attempts": 3,
            "broker.startup_retry_sec": 0.01,
        },
    )


async def test_one_503_on_the_market_clock_at_start_up_is_retried_and_the_service_trades(
    tmp_path: Path,
) -> None:
    """GET /v2/clock answers 503 once: the read is retried (and said), the start completes,
    and a drop in SPY is bought at the loopback Alpaca."""
    async with AlpacaFake() as alpaca:
        alpaca.fail_next(*CLOCK, 503)
        proc = await spawn_tradebot(alpaca_config(tmp_path), **alpaca_env(alpaca))
        try:
            await eventually(lambda: alpaca._subscribed == {"SPY", "QQQ"}, within=30)
            base = (time.time() // 60) * 60 - 60 * 21  # bar 20 is the last complete minute
            for minute, close in enumerate(CALM):
                await alpaca.push_bar("SPY", base + 60 * minute, close)
            await alpaca.push_bar("SPY", base + 60 * 20, 98.0, quote=97.85)
            await eventually(lambda: alpaca.positions.get("SPY"), within=15)
        finally:
            _, err = await stop_tradebot(proc)
        assert proc.returncode == 0, err.decode()
        assert alpaca.requests.count(CLOCK) >= 2
        assert b"Alpaca market clock unreachable" in err and b"retry 2/3" in err
        assert b"Traceback" not in err


async def test_a_market_clock_that_never_answers_stops_the_start_in_one_line(
    tmp_path: Path,
) -> None:
    """GET /v2/clock answers 503 every time: after broker.startup_attempts reads the start
    stops with exit status 2 and one line naming the read, no traceback."""
    async with AlpacaFake() as alpaca:
        alpaca.fail_next(*CLOCK, 503, times=1_000_000)
        proc = await spawn_tradebot(alpaca_config(tmp_path), **alpaca_env(alpaca))
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2, err.decode()
        assert alpaca.requests.count(CLOCK) == 3
    lines = err.decode().splitlines()
    assert [line for line in lines if line.startswith("tradebot:")] == [lines[-1]]
    assert lines[-1].startswith("tradebot: cannot reach the Alpaca market clock after 3 tries")
    assert "Traceback" not in err.decode()


def slack_env(api_url: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_API_URL": api_url,
    }


def slack_config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        **{
            "slack.operators": ["U1"],
            "slack.channel": "C1",
            "slack.alerts_channel": "C2",
            "monitoring.heartbeat_sec": 1,  # the status board is tried while Slack is away
        },
    )


async def read_until(proc: asyncio.subprocess.Process, marker: bytes, seen: list[bytes]) -> None:
    """Read the child's stderr line by line (kept in `seen`) until one holds `marker`."""
    assert proc.stderr is not None
    async with asyncio.timeout(60):
        while True:
            line = await proc.stderr.readline()
            assert line, b"".join(seen).decode()  # the process ended first
            seen.append(line)
            if marker in line:
                return


def journaled_slack_alerts(tmp_path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(tmp_path / "journal.db") as db:
        rows = db.execute("select status, message from alerts where key = 'slack' order by id")
        return [(str(status), str(message)) for status, message in rows]


async def test_an_unreachable_slack_is_an_incident_and_duration_still_stops_the_run(
    tmp_path: Path,
) -> None:
    """Slack's port is closed: the run trades, journals and logs the `slack` incident, retries
    in one line per attempt, and ends on --duration with exit 0 and no traceback."""
    closed = f"http://127.0.0.1:{free_port()}/api/"
    proc = await spawn_tradebot(slack_config(tmp_path), "--duration", "3", **slack_env(closed))
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"stopped after" in out and b"fills" in out
    assert b"ALERT [warning] slack: the Slack connection is down (Cannot connect" in err
    assert b"Slack unreachable (Cannot connect" in err and b"attempt 1 failed" in err
    assert b"Traceback" not in err and b"job-heartbeat" not in err
    status, message = journaled_slack_alerts(tmp_path)[0]
    assert status == "open" and "Cannot connect" in message


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_a_run_that_cannot_reach_slack(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """With Slack unreachable the ticker's status line still comes, and SIGTERM or SIGINT stops
    the run cleanly (exit 0, the summary, no traceback)."""
    closed = f"http://127.0.0.1:{free_port()}/api/"
    proc = await spawn_tradebot(slack_config(tmp_path), **slack_env(closed))
    seen: list[bytes] = []
    try:
        await read_until(proc, b"ACTIVE  equity", seen)
        proc.send_signal(signum)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    err = b"".join(seen) + err
    assert proc.returncode == 0, err.decode()
    assert b"stopped after" in out
    assert b"ALERT [warning] slack:" in err and b"Traceback" not in err


async def test_slack_coming_up_later_is_connected_and_the_incident_resolved(
    tmp_path: Path,
) -> None:
    """Slack answers only after the run has started: the run connects, the `slack` incident
    it raised meanwhile reaches the alerts channel and is resolved there and in the journal."""
    port = free_port()
    proc = await spawn_tradebot(
        slack_config(tmp_path), **slack_env(f"http://127.0.0.1:{port}/api/")
    )
    seen: list[bytes] = []
    try:
        await read_until(proc, b"ALERT [warning] slack:", seen)
        async with SlackFake(port=port) as slack:
            await slack.wait_connected(1, within=60)

            def slack_root() -> Message | None:
                return next(
                    (
                        m
                        for m in slack.messages.values()
                        if m.channel == "C2" and "`slack`" in m.text
                    ),
                    None,
                )

            def resolved() -> bool:  # the root is edited first, then the reply is posted
                root = slack_root()
                replies = [] if root is None else [m.text for m in slack.thread(root.ts)]
                return (
                    root is not None
                    and "RESOLVED" in root.text
                    and replies[-1:] == ["Resolved: Slack connection is back"]
                )

            await eventually(resolved, within=60)
            root = slack_root()
            assert root is not None and "Cannot connect" in root.text
            envelope = await slack.send_slash_command("status", user_id="U1", channel_id="C1")
            await envelope.acked()
            await eventually(lambda: slack.responses, within=10)
            _, err = await stop_tradebot(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in b"".join(seen) + err
    assert [status for status, _ in journaled_slack_alerts(tmp_path)] == ["open", "resolved"]


async def test_the_cluster_gateway_stops_on_duration_while_slack_is_unreachable(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    """`tradebot gateway` connects the same way: Slack's port closed, it retries in one line
    per attempt and still ends on --duration with exit 0, no traceback."""
    config = write_config(tmp_path, **{"cluster.nats_url": nats_server.url})
    closed = f"http://127.0.0.1:{free_port()}/api/"
    proc = await spawn_tradebot(
        None,
        "gateway",
        "--config",
        str(config),
        "--duration",
        "2",
        **slack_env(closed),
        **nats_server.env(GATEWAY),
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"Slack unreachable (Cannot connect" in err and b"Traceback" not in err
