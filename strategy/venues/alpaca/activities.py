"""Alpaca's account activities that move cash outside fills, as charges: only those posted
after the newest one noted, since the starting cash already holds the ones before.
alpaca-py 0.44's TradingClient has no activities call: they are read over the REST path,
through the broker's paced calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from alpaca.trading.models import NonTradeActivity

from strategy.types import Charge
from strategy.venues.alpaca.mapping import wire_value

ACTIVITIES_PAGE = 100  # Alpaca's largest page of account activities
# Account activities that move cash outside fills: regulatory fees (FEE: the SEC's REG and
# FINRA's TAF), pass-through charges (PTC), crypto fees (CFEE); cash dividends and their
# adjustments (DIV, capital gains long/short DIVCGL/DIVCGS, return of capital DIVROC, tax
# exempt DIVTXEX, and the tax withheld from them: DIVNRA, DIVWH); interest on cash (INT).
CHARGE_ACTIVITIES = (
    *("FEE", "PTC", "CFEE"),
    *("DIV", "DIVCGL", "DIVCGS", "DIVROC", "DIVTXEX", "DIVNRA", "DIVWH"),
    "INT",
)
Get = Callable[[str, dict[str, object]], Awaitable[Any]]  # one paced REST GET: (path, query)


def charge(activity: dict[str, object]) -> Charge:
    """A cash activity: a fee, a dividend, interest (`net_amount` is negative when money left
    the account; the charge's amount is what left it, so money in is negative)."""
    parsed = NonTradeActivity(**activity)  # type: ignore[arg-type]
    kind = wire_value(parsed.activity_type)
    reason = f"{kind} {parsed.description}".strip() if parsed.description else kind
    return Charge(ref=parsed.id, amount=-float(parsed.net_amount), reason=reason)


class CashActivities:
    def __init__(self, get: Get) -> None:
        self._get = get
        self._after: str | None = None  # the newest activity already in our cash ("" none yet)

    async def note(self) -> None:
        """Take note of the newest one: it and those before are already in the cash."""
        query = {"activity_types": ",".join(CHARGE_ACTIVITIES), "direction": "desc", "page_size": 1}
        page: Any = await self._get("/account/activities", query)
        self._after = str(page[0]["id"]) if page else ""

    async def new(self) -> list[Charge]:
        """Those posted since the last call (or the note), oldest first."""
        if self._after is None:
            await self.note()
            return []
        found: list[Charge] = []
        while True:
            query: dict[str, object] = {
                "activity_types": ",".join(CHARGE_ACTIVITIES),
                "direction": "asc",
                "page_size": ACTIVITIES_PAGE,
            }
            if self._after:
                query["page_token"] = self._after
            page: Any = await self._get("/account/activities", query)
            found += [charge(activity) for activity in page]
            if page:
                self._after = str(page[-1]["id"])
            if len(page) < ACTIVITIES_PAGE:
                return found
