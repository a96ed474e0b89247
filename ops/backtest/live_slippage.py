"""The live fills `backtest --slippage live` may draw from: market orders only. A backtest
applies the draw to its market orders (exits); a limit order fills at its limit or better,
so its "slippage" is mostly the limit's offset in the trade's favour and would make market
orders look cheaper than they are."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ops.journal.journal import Journal

MIN_LIVE_FILLS = 20  # fewer say little about a distribution the backtest samples from
# joined on (run_id, client_order_id): simulator runs repeat order ids
FILLS_BY_TYPE = """
    select fills.slippage_bps as bps, orders.type as type from fills
    join (select distinct run_id, client_order_id, type from orders) as orders
    on orders.run_id = fills.run_id and orders.client_order_id = fills.client_order_id
    where fills.slippage_bps is not null
    order by fills.id
"""


async def live_slippage(journal: Journal) -> tuple[tuple[float, ...], int]:
    """(the market-order fills' slippage in bps, how many limit-order fills were left out)."""
    rows = await journal.aquery(FILLS_BY_TYPE)
    market = tuple(float(r["bps"]) for r in rows if r["type"] == "market")  # type: ignore[arg-type]
    return market, sum(1 for r in rows if r["type"] == "limit")
