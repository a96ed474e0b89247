"""The backtest preview of a `set` through the REAL slack_bolt / slack_sdk clients and the
loopback Slack: the confirmation is posted at once (the preview does not hold the ack), then
updated with the figures (chat.update); a failing or timed-out preview says so there; Confirm
works before, during and after, and a late preview never brings the buttons back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from ops.backtest.sessions import SessionSource
from tests.fakes.slack import Message
from tests.preview_support import SYMBOLS, BrokenSessions, HeldSessions, recorded
from tests.slack_rig import Rig, nonce, start_rig
from tests.support import eventually
from tests.test_slack_modal import open_form, submit


@asynccontextmanager
async def rig_with(tmp_path: Path, history: SessionSource, **config: object) -> AsyncIterator[Rig]:
    slack, h, surface = await start_rig(
        tmp_path, history=history, **{"strategy.symbols": SYMBOLS, **config}
    )
    try:
        yield Rig(slack, h, surface)
    finally:
        await surface.stop()
        await h.service.stop()
        await slack.__aexit__()


def shows(message: Message, text: str) -> Callable[[], bool]:
    return lambda: any(text in str(block) for block in message.blocks)


def has_buttons(message: Message) -> bool:
    return any(block["type"] == "actions" for block in message.blocks)


async def test_the_confirmation_is_updated_with_the_figures(tmp_path: Path) -> None:
    async with rig_with(tmp_path, recorded(days=5)) as rig:
        message = await rig.request("set entry_z 2.6")
        await eventually(shows(message, "max drawdown"), within=60)
        (posted,) = [c.params for c in rig.slack.calls_to("chat.postMessage")]
        assert "computing..." in str(posted) and "actions" in str(posted)  # before its update
        for text in ("the last 5 sessions (2026-01-07 .. 2026-01-13", "round trips", "P&amp;L"):
            assert shows(message, text)(), text
        assert has_buttons(message) and message.edits == 1
        assert "round trips" in message.text  # the fallback too
        assert rig.h.service.engine.params.entry_z == 2.0
        await rig.click(message, "confirm")
        assert rig.h.service.engine.params.entry_z == 2.6
        assert "entry_z changed 2 -> 2.6 by U1" in message.text


async def test_the_settings_form_gets_the_preview_too(tmp_path: Path) -> None:
    async with rig_with(tmp_path, recorded(days=5)) as rig:
        view = await open_form(rig)
        await submit(rig, view, strategy__entry_z_threshold="2.6")
        await eventually(lambda: rig.slack.messages)
        (message,) = rig.slack.messages.values()
        await eventually(shows(message, "max drawdown"), within=60)
        rig.nonces[message.ts] = nonce(message)
        await rig.click(message, "confirm")
        assert rig.h.service.engine.params.entry_z == 2.6


async def test_a_failing_preview_says_so_and_confirm_still_works(tmp_path: Path) -> None:
    async with rig_with(tmp_path, BrokenSessions()) as rig:
        message = await rig.request("set entry_z 2.6")
        await eventually(shows(message, "backtest preview failed"))
        assert shows(message, "RuntimeError: history store unreachable")()
        assert not shows(message, "Traceback")()
        await rig.click(message, "confirm")
        assert rig.h.service.engine.params.entry_z == 2.6


async def test_a_timed_out_preview_says_so_and_confirm_still_works(tmp_path: Path) -> None:
    held = HeldSessions(recorded(days=5))  # never released
    async with rig_with(tmp_path, held, **{"confirm.preview_timeout_sec": 1}) as rig:
        message = await rig.request("set entry_z 2.6")
        await eventually(shows(message, "timed out after 1 s"))
        await rig.click(message, "confirm")
        assert rig.h.service.engine.params.entry_z == 2.6


async def test_a_click_before_the_preview_works_and_the_preview_never_reopens_it(
    tmp_path: Path,
) -> None:
    held = HeldSessions(recorded(days=5))
    async with rig_with(tmp_path, held) as rig:
        message = await rig.request("set entry_z 2.6")
        await rig.click(message, "confirm")
        assert rig.h.service.engine.params.entry_z == 2.6
        closed = message.edits
        held.release.set()
        await eventually(lambda: rig.h.service.running(f"preview-update:{message.ts}") is None)
        assert message.edits == closed and not has_buttons(message)
        assert "entry_z changed 2 -> 2.6 by U1" in message.text
