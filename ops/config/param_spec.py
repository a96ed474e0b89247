"""One setting's specification (type, range, choices) and the checks of a value against it:
text from an operator or the journal, or a value from the config file."""

from __future__ import annotations

from dataclasses import dataclass

from ops.shared.errors import ConfigError
from ops.shared.formatting import echo


@dataclass(frozen=True, slots=True)
class ParamSpec:
    path: str
    kind: type
    default: object
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    short: str | None = None
    hot: bool = False  # may be changed at runtime with `set`


def parse_value(spec: ParamSpec, text: str) -> object:
    """Text from an operator or the journal -> a checked value; ConfigError otherwise."""
    name = spec.short or spec.path
    if spec.kind is bool:
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ConfigError(f"{name}: '{echo(text)}' is not true or false")
    if spec.kind in (int, float):
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"{name}: '{echo(text)}' is not a number") from None
        if spec.kind is int and not number.is_integer():
            raise ConfigError(f"{name}: '{echo(text)}' is not a whole number")
        return check_value(spec, int(number) if spec.kind is int else number, name)
    if spec.kind is list:
        return check_value(spec, [part.strip() for part in text.split(",") if part.strip()], name)
    return check_value(spec, text.strip(), name)


def check_value(spec: ParamSpec, value: object, label: str) -> object:
    """Type and range check; ints are accepted where floats are expected."""
    kind = spec.kind
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{label} = {value!r} should be {_kind_name(kind)}")
    bounded = spec.low is not None and spec.high is not None
    if isinstance(value, int | float) and bounded and not spec.low <= value <= spec.high:  # type: ignore[operator]
        raise ConfigError(f"{label} = {value:g} is out of range ({spec.low:g} .. {spec.high:g})")
    if spec.choices and value not in spec.choices:
        raise ConfigError(f"{label} = {value!r} is not one of {', '.join(spec.choices)}")
    return value


def _kind_name(kind: type) -> str:
    return {
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        list: "a list",
        str: "text",
    }[kind]


def allowed_range(spec: ParamSpec) -> str:
    if spec.choices:
        return " | ".join(spec.choices)
    if spec.low is not None and spec.high is not None:
        return f"{spec.low:g} .. {spec.high:g}"
    return spec.kind.__name__
