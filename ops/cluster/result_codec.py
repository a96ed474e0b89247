"""The read-only commands' results as JSON, so the gateway renders an account's answer with the
same renderer as the single-process surfaces (nothing is rendered twice, nowhere by hand).

Only the results of QUERIES cross the wire; status has its own cut (AccountStatus). NaN (the
slippage of no fills) stays NaN: both ends are Python's json.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from ops.shared.results import (
    CashCompare,
    ChecklistItem,
    ChecklistResult,
    ConfigLine,
    ConfigResult,
    PnlResult,
    PositionCompare,
    PositionsResult,
    SlippageResult,
)

QUERIES = frozenset({"pnl", "positions", "reconcile", "config", "slippage", "checklist"})
QueryResult = PnlResult | PositionsResult | ConfigResult | SlippageResult | ChecklistResult


def _positions(d: Mapping[str, Any]) -> PositionsResult:
    cash = d["cash"]
    return PositionsResult(
        rows=tuple(PositionCompare(**row) for row in d["rows"]),
        broker_error=d["broker_error"],
        reconcile=d["reconcile"],
        cash=None if cash is None else CashCompare(**cash),
    )


DECODERS: dict[str, Callable[[Mapping[str, Any]], QueryResult]] = {
    "PnlResult": lambda d: PnlResult(**d),
    "PositionsResult": _positions,
    "ConfigResult": lambda d: ConfigResult(tuple(ConfigLine(**line) for line in d["lines"])),
    "SlippageResult": lambda d: SlippageResult(**{**d, "samples_bps": tuple(d["samples_bps"])}),
    "ChecklistResult": lambda d: ChecklistResult(tuple(ChecklistItem(**i) for i in d["items"])),
}


def encode_result(result: QueryResult) -> dict[str, Any]:
    return {"kind": type(result).__name__, "body": asdict(result)}


def decode_result(data: Mapping[str, Any]) -> QueryResult:
    return DECODERS[str(data["kind"])](data["body"])
