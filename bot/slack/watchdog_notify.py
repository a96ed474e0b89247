"""Where `tradebot watchdog` tells someone: an incoming webhook, or the Web API with its own
bot token and --channel."""

from __future__ import annotations

from collections.abc import Mapping

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack import tokens as slack_tokens
from bot.slack.surface import DEFAULT_API_URL
from ops.shared.errors import StartupError
from ops.watch.watchdog import Notify


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
