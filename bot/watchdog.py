"""Wiring `tradebot watchdog`: where its alerts go (an incoming webhook, or the Web API with
its own bot token), then the poll loop until --duration or a signal."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Mapping

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack import tokens as slack_tokens
from bot.slack.surface import DEFAULT_API_URL
from ops.shared.errors import StartupError
from ops.watch.watchdog import Notify, Watchdog


def slack_notifier(env: Mapping[str, str], channel: str | None) -> Notify:
    if webhook_url := env.get("SLACK_WEBHOOK_URL"):
        webhook = AsyncWebhookClient(webhook_url)

        async def send_webhook(text: str) -> None:
            response = await webhook.send(text=text)
            if response.status_code != 200:
                raise RuntimeError(f"webhook answered HTTP {response.status_code}")

        return send_webhook
    if token := env.get("SLACK_BOT_TOKEN"):
        slack_tokens.check(token, None)
        if not channel:
            raise StartupError("tradebot watchdog: --channel is needed with SLACK_BOT_TOKEN")
        client = AsyncWebClient(token=token, base_url=env.get("SLACK_API_URL") or DEFAULT_API_URL)

        async def send_message(text: str) -> None:
            await client.chat_postMessage(channel=channel, text=text)

        return send_message
    raise StartupError(
        "tradebot watchdog: set SLACK_WEBHOOK_URL (an incoming webhook) or SLACK_BOT_TOKEN "
        "with --channel, so that it can tell someone"
    )


async def watch(
    url: str,
    notify: Notify,
    interval: float,
    repeat: float,
    duration: float | None,
) -> int:
    dog = Watchdog(url, notify, interval_sec=interval, repeat_sec=repeat)
    task = asyncio.get_running_loop().create_task(dog.run(), name="watchdog")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=duration)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return 0
