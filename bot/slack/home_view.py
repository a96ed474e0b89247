"""The App Home tab's Block Kit view, built with slack_sdk.models (which validates it).

Long lists are summarised so the view fits Slack's limits by construction: the biggest
`MAX_POSITIONS` positions then "and K more" with totals, at most `MAX_INCIDENTS` incidents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.slack.alert_view import ICONS
from bot.slack.blocks import escape
from ops.shared.formatting import money, signed_money
from ops.shared.results import PositionLine, StatusResult
from strategy.market_day import market_time
from strategy.types import TradingState

MAX_POSITIONS = 10
MAX_INCIDENTS = 10
MAX_TEXT = 280  # an incident message or a notice is clipped to this (a section holds 3,000)

PAUSE, RESUME, KILL, SETTINGS, ACK = (
    "home_pause",
    "home_resume",
    "home_kill",
    "home_set",
    "home_ack",
)
READ_ONLY_NOTE = "Read-only: operators (slack.operators) can pause, kill and change settings here."


@dataclass(frozen=True, slots=True)
class HomeFacts:
    """What the tab shows besides the status: per viewer and per refresh."""

    operator: bool
    notice: str | None  # the outcome of this user's last click, if any
    last_heartbeat: float | None  # wall time of the last status-board refresh
    now: float


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def home_view(
    status: StatusResult, incidents: Mapping[str, tuple[str, str]], facts: HomeFacts
) -> View:
    """`incidents`: key -> (severity, latest message), as the service keeps them."""
    blocks: list[Block] = [HeaderBlock(text=clip(f"tradebot: {status.strategy}", 150))]
    if facts.notice:
        blocks.append(_context(clip(facts.notice)))
    blocks += [
        _state_section(status),
        _context(_freshness(status, facts)),
        _controls(status.state) if facts.operator else _context(READ_ONLY_NOTE),
        DividerBlock(),
        *_positions(status.positions),
        DividerBlock(),
        *_incidents(incidents, facts.operator),
    ]
    view = View(type="home", blocks=blocks)
    view.validate_json()
    return view


def _state_section(status: StatusResult) -> SectionBlock:
    icon = {TradingState.ACTIVE: ":large_green_circle:", TradingState.HALTED: ":red_circle:"}
    reason = f": {escape(clip(status.state_reason))}" if status.state_reason else ""
    return SectionBlock(
        text=MarkdownTextObject(
            text=f"{icon.get(status.state, ':large_yellow_circle:')} *{status.state.value}*"
            f"{reason}\n{escape(status.venue)}"
        ),
        fields=[
            MarkdownTextObject(text=f"*Equity*\n{money(status.equity)}"),
            MarkdownTextObject(text=f"*Day P&L*\n{escape(signed_money(status.day_pnl))}"),
            MarkdownTextObject(text=f"*Drawdown*\n{status.drawdown:.2%}"),
            MarkdownTextObject(
                text=f"*Orders*\n{status.working_orders} working, {status.orders_today} today"
            ),
        ],
    )


def _freshness(status: StatusResult, facts: HomeFacts) -> str:
    beat = "no heartbeat yet" if facts.last_heartbeat is None else _clock(facts.last_heartbeat)
    bar = (
        "no bar yet"
        if status.last_bar_age_sec is None
        else f"last bar {status.last_bar_age_sec:.0f} s old"
    )
    switch = " · :warning: kill switch file present" if status.kill_switch_armed else ""
    return f"last heartbeat {beat} · {bar} · shown at {_clock(facts.now)}{switch}"


def _clock(ts: float) -> str:
    return market_time(ts, "%H:%M:%S")


def _controls(state: TradingState) -> ActionsBlock:
    if state is TradingState.ACTIVE:
        hold = ButtonElement(
            text="Pause entries",
            action_id=PAUSE,
            value="pause",
            confirm=ConfirmObject(
                title="Pause new entries?",
                text="No new positions are opened; exits still run. Resume asks to confirm.",
                confirm="Pause",
                deny="Keep trading",
            ),
        )
    else:
        hold = ButtonElement(text="Resume…", action_id=RESUME, value="resume")
    return ActionsBlock(
        block_id="controls",
        elements=[
            hold,
            ButtonElement(text="Kill…", action_id=KILL, value="kill", style="danger"),
            ButtonElement(text="Change settings…", action_id=SETTINGS, value="set"),
        ],
    )


def _positions(positions: tuple[PositionLine, ...]) -> list[Block]:
    if not positions:
        return [SectionBlock(text=MarkdownTextObject(text="*Positions*\nnone open"))]

    def value(p: PositionLine) -> float:
        return p.qty * (p.last_price if p.last_price is not None else p.avg_price)

    ranked = sorted(positions, key=lambda p: abs(value(p)), reverse=True)
    shown, rest = ranked[:MAX_POSITIONS], ranked[MAX_POSITIONS:]
    lines = [
        f"`{escape(p.symbol[:12])}` {p.qty:+d} @ {p.avg_price:,.2f} · {money(value(p))} · "
        f"unrealized {escape(signed_money(p.unrealized))}"
        for p in shown
    ]
    if rest:
        lines.append(f"…and {len(rest)} more ({money(sum(abs(value(p)) for p in rest))} gross)")
    gross = sum(abs(value(p)) for p in positions)
    net = sum(value(p) for p in positions)
    unrealized = sum(p.unrealized for p in positions)
    return [
        SectionBlock(
            text=MarkdownTextObject(text=f"*Positions ({len(positions)})*\n" + "\n".join(lines))
        ),
        _context(
            f"gross {money(gross)} · net {money(net)} · "
            f"unrealized {escape(signed_money(unrealized))}"
        ),
    ]


def _incidents(incidents: Mapping[str, tuple[str, str]], operator: bool) -> list[Block]:
    if not incidents:
        return [SectionBlock(text=MarkdownTextObject(text="*Open incidents*\nnone"))]
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=f"*Open incidents ({len(incidents)})*"))
    ]
    for key, (severity, message) in list(incidents.items())[:MAX_INCIDENTS]:
        icon = ICONS.get(severity, ICONS["warning"])
        button = ButtonElement(text="Acknowledge", action_id=ACK, value=key[:2000])
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"{icon} `{escape(clip(key, 80))}` {escape(clip(message))}"
                ),
                accessory=button if operator else None,
            )
        )
    if len(incidents) > MAX_INCIDENTS:
        more = len(incidents) - MAX_INCIDENTS
        blocks.append(_context(f"…and {more} more: `/trade status` lists them all"))
    return blocks


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])
