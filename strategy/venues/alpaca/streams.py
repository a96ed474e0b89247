"""Owning an alpaca-py websocket on our loop (its run() would call asyncio.run), and turning
what goes wrong on it into incidents instead of tracebacks.

Incidents leave the venue through two callbacks the service wires (strategy imports no ops):
`on_problem(key, severity, message)` opens one, `on_recovered(key, message)` closes it. The
defaults only log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from alpaca.trading.stream import TradingStream

log = logging.getLogger(__name__)

ProblemSink = Callable[[str, str, str], None]
RecoveredSink = Callable[[str, str], None]


def log_problem(key: str, severity: str, message: str) -> None:
    log.warning("%s (%s): %s", key, severity, message)


def log_recovered(key: str, message: str) -> None:
    log.info("%s resolved: %s", key, message)


class StreamRefused(ValueError):
    """The stream refused our keys or our subscription. A ValueError, as alpaca-py's own, so
    its reconnect loop treats it the same (retry with backoff; stop on 'insufficient
    subscription')."""


class RefusalHook:
    """Mixed in before an alpaca-py stream class: `on_refused(cause)` is called when the server
    refuses our keys or subscription, and the failure is raised as StreamRefused."""

    on_refused: Callable[[str], None] = staticmethod(lambda cause: None)

    async def _auth(self) -> None:
        try:
            await super()._auth()  # type: ignore[misc]
        except ValueError as exc:
            self.on_refused(str(exc))
            raise StreamRefused(str(exc)) from exc


class ReconnectingTradingStream(RefusalHook, TradingStream):
    """alpaca-py's stream, with hooks: `on_listening` once the server confirms trade_updates
    after every (re)connection (fills that happened while the socket was down are then
    recovered by re-reading orders over REST), `on_refused` when it refuses our keys."""

    on_listening: Callable[[], None] = staticmethod(lambda: None)

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        if msg.get("stream") == "listening":
            self.on_listening()
        await super()._dispatch(msg)


class _NoRefusalTracebacks(logging.Filter):
    """alpaca-py logs every failed connection with log.exception, i.e. a full traceback every
    few seconds forever; a refusal is reported once, as an incident, instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], StreamRefused))


_FILTER = _NoRefusalTracebacks()


def quiet_refusals(logger_name: str) -> None:
    """Drop alpaca-py's traceback records for StreamRefused on that module's logger."""
    logger = logging.getLogger(logger_name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


class Refusals:
    """Credentials refused on a venue connection (a stream, REST): one incident, open while
    any of them is refused, closed once each of them has been accepted again."""

    def __init__(self, key: str, what: str, check: str) -> None:
        self.key = key
        self._what = what
        self._check = check  # the settings to look at
        self._refused: set[str] = set()

    def refused(self, where: str, cause: str, report: ProblemSink) -> None:
        first = not self._refused
        self._refused.add(where)
        if first:
            report(
                self.key,
                "critical",
                f"Alpaca refused the {self._what} credentials / subscription on the {where} "
                f"({cause}); check {self._check}",
            )

    def accepted(self, where: str, report: RecoveredSink) -> None:
        if where in self._refused:
            self._refused.discard(where)
            if not self._refused:
                report(self.key, f"Alpaca accepted the {self._what} credentials again")


class _Stream(Protocol):
    async def stop_ws(self) -> None: ...

    async def close(self) -> None: ...


async def stop_stream(stream: _Stream, task: asyncio.Task[Any]) -> None:
    """Stop at once: alpaca-py only notices stop_ws() after its 5 s receive timeout, so the
    task is canceled and the socket closed here (the account's one connection is freed)."""
    await stream.stop_ws()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await stream.close()
