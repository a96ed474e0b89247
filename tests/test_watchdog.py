"""The health endpoint and `tradebot watchdog`: a stale heartbeat and a dead primary reach
Slack (an incoming webhook, or the Web API with the watchdog's own token), with repeats while
it lasts and one message when it recovers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from bot.account import watched_parts
from bot.slack.watchdog_notify import slack_notifier
from ops.watch.health_endpoint import HealthEndpoint
from ops.watch.watchdog import Watchdog
from tests.fakes.slack import SlackFake
from tests.support import (
    REPO,
    bar,
    eventually,
    free_port,
    make_harness,
    spawn_tradebot,
    stop_tradebot,
    write_config,
)


async def test_a_stale_heartbeat_is_alerted_repeated_and_recovered(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    await h.push(bar("SPY", 0, 100.0))
    endpoint = HealthEndpoint(watched_parts(h.service), 0)
    await endpoint.start()
    url = f"http://127.0.0.1:{endpoint.port}/health"
    async with SlackFake() as slack, aiohttp.ClientSession() as session:
        dog = Watchdog(
            url, slack_notifier({"SLACK_WEBHOOK_URL": slack.webhook_url}, None), repeat_sec=0.2
        )

        def said() -> list[str]:
            return [post["text"] for post in slack.webhook_posts]

        assert (await dog.check(session)).healthy and said() == []
        h.clock.advance(600)  # no bar for ten market minutes
        assert not (await dog.check(session)).healthy
        assert "primary DOWN: heartbeat stale" in said()[0]
        await dog.check(session)
        assert len(said()) == 1  # not again before repeat_sec
        await asyncio.sleep(0.25)
        await dog.check(session)
        assert "still DOWN" in said()[1]
        await h.push(bar("SPY", 11, 100.0))
        assert (await dog.check(session)).healthy
        assert "recovered" in said()[2]
        await endpoint.stop()
        await dog.check(session)
        assert "not answering" in said()[3]


async def test_tradebot_watchdog_tells_slack_when_the_primary_dies_and_comes_back(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = write_config(tmp_path, **{"monitoring.health_port": port})
    watch_args = (
        "watchdog",
        "--url",
        f"http://127.0.0.1:{port}/health",
        "--interval",
        "0.2",
        "--channel",
        "C9",
    )
    async with SlackFake() as slack:
        primary = await spawn_tradebot(config)
        dog = None

        def said() -> list[str]:
            return [m.text for m in slack.messages.values() if m.channel == "C9"]

        try:
            async with aiohttp.ClientSession() as session:

                async def answering() -> bool:
                    try:
                        async with session.get(f"http://127.0.0.1:{port}/health") as r:
                            return r.status == 200
                    except aiohttp.ClientError:
                        return False

                await eventually(answering, within=30)
                dog = await spawn_tradebot(
                    None, *watch_args, SLACK_BOT_TOKEN="xoxb-dog", SLACK_API_URL=slack.api_url
                )
                await asyncio.sleep(2.0)  # it starts and polls a healthy primary: silence
                assert said() == []
                primary.send_signal(signal.SIGKILL)  # no goodbye: what a crash looks like
                await primary.wait()
                await eventually(lambda: any("primary DOWN" in t for t in said()), within=10)
                primary = await spawn_tradebot(config)
                await eventually(lambda: any("recovered" in t for t in said()), within=30)
        finally:
            await stop_tradebot(primary)
            out, err = await stop_tradebot(dog) if dog is not None else (b"", b"")
        assert dog is not None and dog.returncode == 0, err.decode()
        assert b"xoxb-dog" not in out + err


def test_a_watchdog_that_could_tell_nobody_refuses_to_start() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "watchdog", "--duration", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "set SLACK_WEBHOOK_URL (an incoming webhook) or SLACK_BOT_TOKEN" in done.stderr
