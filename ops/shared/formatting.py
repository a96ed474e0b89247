"""How values reach people: money, parameter values, ages, and echoed input."""

from __future__ import annotations

ECHO_MAX_CHARS = 40  # what a refusal quotes back of someone's input


def money(x: float) -> str:
    """-$1,968.24: the sign before the dollar, everywhere."""
    return f"{'-' if x < 0 else ''}${abs(x):,.2f}"


def signed_money(x: float) -> str:
    """+$2.68 / -$2.68: a change, signed either way."""
    return f"{'+' if x >= 0 else '-'}${abs(x):,.2f}"


def echo(text: str, most: int = ECHO_MAX_CHARS) -> str:
    """Someone's input quoted back: whole when short, else its start and how much was cut."""
    if len(text) <= most:
        return text
    return f"{text[:most]}... (cut: {len(text):,} characters)"


def age(seconds: float) -> str:
    """How long ago, in the largest unit that keeps it readable: 12s, 4m, 2.5h, 3.0d."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return str(value)
