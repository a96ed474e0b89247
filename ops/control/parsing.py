"""Turning a command line into a command name and arguments: forgiving about case and spaces."""

from __future__ import annotations

from dataclasses import dataclass

from ops.shared import messages
from ops.shared.formatting import echo
from ops.shared.results import CommandError, UsageRefused

COMMANDS = frozenset(
    {
        "status",
        "pnl",
        "positions",
        "reconcile",
        "config",
        "set",
        "reset",
        "pause",
        "resume",
        "kill",
        "slippage",
        "adopt",
        "cancel-order",
        "ack",
        "resolve",
        "checklist",
        "test-alert",
        "help",
    }
)
ALIASES = {"pos": "positions", "stop": "pause", "?": "help", "cfg": "config", "p&l": "pnl"}
PREFIXES = ("/trade", "trade")
MAX_COMMAND_CHARS = 500  # the longest real command is under 100: anything longer is a paste


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    name: str
    args: tuple[str, ...]
    here: bool  # answer in channel rather than privately (Slack)


def parse_command(text: str) -> ParsedCommand:
    if len(text) > MAX_COMMAND_CHARS:
        raise CommandError(
            messages.COMMAND_TOO_LONG.format(most=MAX_COMMAND_CHARS, start=echo(text.strip()))
        )
    words = text.strip().split()
    if words and words[0].lower() in PREFIXES:
        words = words[1:]
    if not words:
        raise UsageRefused(messages.EMPTY_COMMAND)
    name = ALIASES.get(words[0].lower(), words[0].lower())
    if name not in COMMANDS:
        raise UsageRefused(messages.UNKNOWN_COMMAND.format(name=echo(words[0])))
    args = words[1:]
    here = bool(args) and args[-1].lower() == "here"
    if here:
        args = args[:-1]
    return ParsedCommand(name=name, args=tuple(args), here=here)
