"""Client order ids: one per decision, and the prefix that tells who made it."""

from __future__ import annotations

from strategy.types import Intent


def client_order_id(symbol: str, bar_ts: float, intent: Intent, prefix: str = "tb") -> str:
    """Deterministic per decision: the same bar can never produce two different orders. The
    prefix tells strategies sharing an account apart (the broker's ids are per account)."""
    return f"{prefix}-{symbol}-{int(bar_ts)}-{str(intent)[0]}"


def order_prefix(client_order_id: str) -> str | None:
    """The prefix `client_order_id` was made with (read from the right: symbols and times
    hold no '-'), or None for an id it did not make."""
    parts = client_order_id.rsplit("-", 3)
    return parts[0] if len(parts) == 4 else None
