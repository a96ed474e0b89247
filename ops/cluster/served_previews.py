"""A `set`/`reset`'s backtest preview across NATS. The order manager keeps its command core's
preview of each pending change and answers the gateway's {"preview": nonce} once the backtest
is done, in a task of its own (nats-py runs a subscription's callbacks one at a time: waiting
there would hold up every other request). A confirm, cancel or expiry stops it first."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict

from nats.aio.msg import Msg

from ops.control.preview import KEPT, BacktestPreview, Figures, Ticket

log = logging.getLogger(__name__)
NO_PREVIEW = "no backtest of that change is running (settled, expired or never started)"


class ServedPreviews:
    def __init__(self, account: str) -> None:
        self.account = account
        self._tickets: dict[str, Ticket] = {}  # nonce of a pending change -> its backtest
        self._replies: set[asyncio.Task[None]] = set()

    def keep(self, nonce: str, ticket: Ticket | None) -> str | None:
        """Keep the preview of change `nonce` for the gateway's request; the line to show
        meanwhile. The oldest beyond KEPT (a gateway that never asked) are stopped."""
        if ticket is None:
            return None
        self._tickets[nonce] = ticket
        while len(self._tickets) > KEPT:
            self.drop(next(iter(self._tickets)))
        return ticket.pending

    def drop(self, nonce: str) -> None:
        """The change is settled: its backtest stops, a request waiting for it is refused."""
        ticket = self._tickets.pop(nonce, None)
        if ticket is not None:
            ticket.task.cancel()

    def answer(self, msg: Msg, nonce: str) -> None:
        reply = asyncio.get_running_loop().create_task(
            self._reply(msg, nonce), name=f"preview-reply:{nonce[:8]}"
        )
        self._replies.add(reply)
        reply.add_done_callback(self._replies.discard)

    async def _reply(self, msg: Msg, nonce: str) -> None:
        try:
            await msg.respond(json.dumps(await self._preview(nonce)).encode())
        except Exception:  # e.g. the connection closed meanwhile: the gateway's request times out
            log.warning("the preview of %s's change was not answered", self.account, exc_info=True)

    async def _preview(self, nonce: str) -> dict[str, object]:
        ticket = self._tickets.get(nonce)
        if ticket is None:
            return {"ok": False, "error": NO_PREVIEW}
        await asyncio.wait([ticket.task])
        if self._tickets.get(nonce) is ticket:
            del self._tickets[nonce]
        if ticket.task.cancelled() or ticket.task.exception() is not None:
            return {"ok": False, "error": NO_PREVIEW}
        return {"ok": True, "preview": asdict(ticket.task.result())}


def preview_of(body: dict[str, object]) -> BacktestPreview:
    """A BacktestPreview from its JSON (asdict)."""
    raw = dict(body)
    old, new, dates = raw.pop("old"), raw.pop("new"), raw.pop("dates")
    assert isinstance(dates, list)
    return BacktestPreview(
        dates=tuple(str(d) for d in dates),
        old=Figures(**old) if isinstance(old, dict) else None,
        new=Figures(**new) if isinstance(new, dict) else None,
        **raw,  # type: ignore[arg-type]
    )
