"""Bar batches (msgpack), intents and order updates (JSON) as message bodies: the roles' only
shared format. A batch is the one body every bar crosses three times (the ingestor writes it, a
worker and the order manager read it): msgpack costs a tenth of JSON's time each way."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import msgpack

from strategy.types import (
    Bar,
    Fill,
    Intent,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)


class CodecError(ValueError):
    """A message body that is not what its subject promises."""


def _loads(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodecError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise CodecError("not a JSON object")
    return body


def encode_bars(bars: Sequence[Bar]) -> bytes:
    """A batch: bars of one bar time (the first one's), as `[ts, [[SYM, o, h, l, c, v], ...]]`."""
    return msgpack.packb(
        [bars[0].ts, [[b.symbol, b.open, b.high, b.low, b.close, b.volume] for b in bars]]
    )


def decode_bars(data: bytes) -> list[Bar]:
    ts, rows = decode_batch(data)
    return [bar_of(ts, row) for row in rows]


def decode_batch(data: bytes) -> tuple[float, list[list[Any]]]:
    """A batch's bar time and its rows, each checked by `bar_of` (or `quote_of`) when used."""
    try:
        ts, rows = msgpack.unpackb(data)
        if not isinstance(rows, list):
            raise TypeError("rows are not a list")
        return float(ts), rows
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise CodecError(f"not a bar batch: {type(exc).__name__}: {str(exc)[:200]}") from None


def bar_of(ts: float, row: list[Any]) -> Bar:
    try:
        symbol, open_, high, low, close, volume = row
        return Bar(
            str(symbol), ts, float(open_), float(high), float(low), float(close), float(volume)
        )
    except (ValueError, TypeError) as exc:
        raise CodecError(f"not a bar: {exc}") from None


def quote_of(row: list[Any]) -> tuple[str, float]:
    """A row's symbol and close, without the rest of the bar."""
    try:
        return str(row[0]), float(row[4])
    except (IndexError, ValueError, TypeError) as exc:
        raise CodecError(f"not a bar: {exc}") from None


def encode_intent(order: OrderRequest, strategy: str) -> bytes:
    return json.dumps(
        {
            "client_order_id": order.client_order_id,
            "strategy": strategy,
            "symbol": order.symbol,
            "side": order.side.value,
            "qty": order.qty,
            "type": order.type.value,
            "tif": order.tif.value,
            "limit_price": order.limit_price,
            "decision_price": order.decision_price,
            "intent": order.intent.value,
            "created_ts": order.created_ts,
        },
        separators=(",", ":"),
    ).encode()


def decode_intent(data: bytes) -> tuple[OrderRequest, str]:
    """The order and the strategy that wants it."""
    body = _loads(data)
    try:
        order = OrderRequest(
            client_order_id=str(body["client_order_id"]),
            symbol=str(body["symbol"]),
            side=Side(body["side"]),
            qty=int(body["qty"]),
            type=OrderType(body["type"]),
            tif=TimeInForce(body["tif"]),
            limit_price=None if body["limit_price"] is None else float(body["limit_price"]),
            decision_price=float(body["decision_price"]),
            intent=Intent(body["intent"]),
            created_ts=float(body["created_ts"]),
        )
        return order, str(body["strategy"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CodecError(f"not an intent: {exc!r}") from None


def encode_update(update: OrderUpdate) -> bytes:
    return json.dumps(_update_body(update), separators=(",", ":")).encode()


def encode_updates(updates: Sequence[OrderUpdate]) -> bytes:
    """Several updates in one body, a JSON array in their order (decode_updates)."""
    return json.dumps([_update_body(u) for u in updates], separators=(",", ":")).encode()


def _update_body(update: OrderUpdate) -> dict[str, object]:
    fill = update.fill
    return {
        "client_order_id": update.client_order_id,
        "symbol": update.symbol,
        "status": update.status.value,
        "filled_qty": update.filled_qty,
        "filled_avg_price": update.filled_avg_price,
        "ts": update.ts,
        "reason": update.reason,
        "broker_order_id": update.broker_order_id,
        "side": update.side.value if update.side else None,
        "qty": update.qty,
        "fill": None
        if fill is None
        else [fill.side.value, fill.qty, fill.price, fill.commission, fill.ts],
    }


def decode_update(data: bytes) -> OrderUpdate:
    return _update_of(_loads(data))


def decode_updates(data: bytes) -> list[OrderUpdate]:
    """The updates of a body of one (encode_update) or of several (encode_updates)."""
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodecError(f"not JSON: {exc}") from None
    if isinstance(body, list):
        return [_update_of(item) for item in body]
    return [_update_of(body)]


def _update_of(body: Any) -> OrderUpdate:
    if not isinstance(body, dict):
        raise CodecError("not an order update: not a JSON object")
    try:
        raw_fill = body["fill"]
        fill = None
        if raw_fill is not None:
            side, qty, price, commission, ts = raw_fill
            fill = Fill(
                client_order_id=str(body["client_order_id"]),
                symbol=str(body["symbol"]),
                side=Side(side),
                qty=int(qty),
                price=float(price),
                commission=float(commission),
                ts=float(ts),
            )
        return OrderUpdate(
            client_order_id=str(body["client_order_id"]),
            symbol=str(body["symbol"]),
            status=OrderStatus(body["status"]),
            filled_qty=int(body["filled_qty"]),
            filled_avg_price=None
            if body["filled_avg_price"] is None
            else float(body["filled_avg_price"]),
            ts=float(body["ts"]),
            fill=fill,
            reason=str(body["reason"]),
            broker_order_id=str(body["broker_order_id"]),
            side=None if body["side"] is None else Side(body["side"]),
            qty=int(body["qty"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CodecError(f"not an order update: {exc!r}") from None


def update_msg_id(update: OrderUpdate) -> str:
    """One message per real change of an order: a re-published update de-duplicates."""
    return f"{update.client_order_id}:{update.status.value}:{update.filled_qty}"


def updates_msg_id(updates: Sequence[OrderUpdate]) -> str:
    """Several updates' message id, from theirs: the same batch published again de-duplicates."""
    ids = "\n".join(update_msg_id(update) for update in updates)
    return f"updates:{hashlib.blake2b(ids.encode(), digest_size=16).hexdigest()}"
