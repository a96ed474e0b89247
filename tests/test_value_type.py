"""The value types are frozen dataclasses whatever builds them (strategy/value_type.py)."""

import dataclasses
import pickle

import pytest

from strategy.types import Fill, OrderStatus, OrderUpdate, Side
from strategy.value_type import value_type


def _update(**changes: object) -> OrderUpdate:
    fields = {
        "client_order_id": "tb-SPY-1-e",
        "symbol": "SPY",
        "status": OrderStatus.NEW,
        "filled_qty": 0,
        "filled_avg_price": None,
        "ts": 1.0,
    }
    return OrderUpdate(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_value_takes_positions_keywords_and_defaults() -> None:
    """Built by position or keyword, the unnamed fields take their defaults."""
    by_position = OrderUpdate("tb-SPY-1-e", "SPY", OrderStatus.NEW, 0, None, 1.0)
    assert by_position == _update()
    assert (by_position.fill, by_position.reason, by_position.side, by_position.qty) == (
        None,
        "",
        None,
        0,
    )
    assert _update(side=Side.BUY, qty=5).qty == 5


def test_a_value_cannot_change_and_survives_pickle_and_replace() -> None:
    """Frozen, hashable, picklable (the cluster and the sweep's workers send them) and
    dataclasses.replace makes a changed copy."""
    fill = Fill("c", "SPY", Side.SELL, 3, 101.5, 0.015, 2.0)
    update = _update(status=OrderStatus.FILLED, filled_qty=3, filled_avg_price=101.5, fill=fill)
    with pytest.raises(dataclasses.FrozenInstanceError):
        update.filled_qty = 4  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(update)) == update
    assert hash(update) == hash(pickle.loads(pickle.dumps(update)))
    assert dataclasses.replace(update, reason="x").reason == "x"
    assert [f.name for f in dataclasses.fields(fill)][:2] == ["client_order_id", "symbol"]


def test_a_value_type_refuses_a_default_factory() -> None:
    """Only plain defaults: a factory would be shared between values otherwise."""
    with pytest.raises(TypeError, match="plain defaults"):

        @value_type
        class Bad:
            items: list[int] = dataclasses.field(default_factory=list)
