"""How parameter values and ranges are shown to operators."""

from __future__ import annotations

from ops.config import ParamSpec


def format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return str(value)


def allowed_range(spec: ParamSpec) -> str:
    if spec.choices:
        return " | ".join(spec.choices)
    if spec.low is not None and spec.high is not None:
        return f"{spec.low:g} .. {spec.high:g}"
    return spec.kind.__name__
