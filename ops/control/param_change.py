"""`set` and `reset` of one parameter: what the change would do (checked now, cross-checks
included), and the change itself once confirmed, refused if the value moved meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ops.config.param_spec import allowed_range
from ops.config.settings import ParamSpec, Settings, find_param, parse_value
from ops.journal.access import ParamChanges
from ops.shared import messages
from ops.shared.formatting import format_value
from ops.shared.results import CommandError, Done

OPEN_FLAGS = frozenset({"--open", "open", "--apply-open"})


@dataclass(frozen=True, slots=True)
class ParamChange:
    verb: str  # set | reset
    spec: ParamSpec
    old: object
    new: object
    apply_open: bool  # open positions switch to the new value too

    @property
    def label(self) -> str:
        return self.spec.short or self.spec.path

    @property
    def title(self) -> str:
        return f"{self.verb} {self.label}: {format_value(self.old)} -> {format_value(self.new)}"


def read_change(settings: Settings, verb: str, args: tuple[str, ...]) -> ParamChange:
    """The change `set NAME VALUE` / `reset NAME` asks for; CommandError (or ConfigError) when
    it is malformed, unchanged or would not hold with the other settings."""
    apply_open = any(a.lower() in OPEN_FLAGS for a in args)
    words = [a for a in args if a.lower() not in OPEN_FLAGS]
    if len(words) != (2 if verb == "set" else 1):
        raise CommandError(messages.SET_USAGE if verb == "set" else messages.RESET_USAGE)
    spec = find_param(words[0])
    if not spec.hot:
        raise CommandError(messages.NOT_SETTABLE.format(path=spec.path))
    old = settings.get(spec.path)
    label = spec.short or spec.path
    if verb == "set":
        new = parse_value(spec, words[1])
        if new == old:
            raise CommandError(messages.UNCHANGED.format(name=label, value=format_value(old)))
        settings.with_override(spec.path, new)  # raises now if cross-checks fail
    else:
        if settings.source(spec.path) != "override":
            raise CommandError(
                messages.NO_OVERRIDE.format(
                    name=label, value=format_value(old), source=settings.source(spec.path)
                )
            )
        new = settings.without_override(spec.path).get(spec.path)
    return ParamChange(verb, spec, old, new, apply_open)


def preview_lines(open_positions: int, change: ParamChange) -> tuple[str, ...]:
    keeps = (
        f"the {open_positions} open position(s) switch to the new value"
        if change.apply_open
        else f"the {open_positions} open position(s) keep their entry parameters"
    )
    lines = [
        f"{change.spec.path}: {format_value(change.old)} -> {format_value(change.new)}",
        f"allowed: {allowed_range(change.spec)}",
    ]
    if change.spec.path.startswith("strategy."):
        lines.append(keeps)
    return tuple(lines)


def settings_after(settings: Settings, change: ParamChange) -> Settings:
    """`settings` as they are once the change is applied."""
    if change.verb == "set":
        return settings.with_override(change.spec.path, change.new)
    return settings.without_override(change.spec.path)


def apply_change(
    settings: Settings,
    apply_settings: Callable[[Settings, bool], None],
    journal: ParamChanges,
    change: ParamChange,
    requester: str,
    confirmer: str,
) -> Done:
    """Apply (through `apply_settings`) and journal the change to `settings` (those in force),
    unless the value moved since it was asked."""
    spec = change.spec
    now_value = settings.get(spec.path)
    if now_value != change.old:
        raise CommandError(
            messages.CHANGED_SINCE.format(
                name=change.label, old=format_value(change.old), now=format_value(now_value)
            )
        )
    apply_settings(settings_after(settings, change), change.apply_open)
    journal.record_param_change(
        spec.path,
        format_value(change.old),
        format_value(change.new) if change.verb == "set" else None,
        confirmer,
        change.verb,
        change.apply_open,
    )
    who = confirmer if confirmer == requester else f"{confirmer} (asked by {requester})"
    old, new = format_value(change.old), format_value(change.new)
    return Done(f"{change.label} changed {old} -> {new} by {who}")
