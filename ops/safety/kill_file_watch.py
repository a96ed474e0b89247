"""The kill switch's files: the kill file (a kill when it appears; its incident resolves once it
is gone and the book is flat) and the resume request `tradebot resume` drops beside it.

No one look can end the watch: a look that fails (a permission, an I/O error) is logged and
an incident, and the next look goes on (the incident resolves when one succeeds). A resume
request that cannot be a request (not a regular file, not UTF-8, unreadable, malformed) is
refused, reported and removed; one that cannot be removed is not taken again until it changes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path
from typing import Protocol

from ops.safety.resume_request import MAX_BYTES, ResumeRequest, resume_file
from ops.shared import messages
from strategy.book import Book

log = logging.getLogger(__name__)
INCIDENT = "kill-file-watch"
FILE = "kill file"
RESUME_VIA = "tradebot resume"


class FileSwitch(Protocol):
    """What the watch asks of the kill switch (ops.safety.kill_switch.KillSwitch)."""

    file_poll_sec: float

    @property
    def running(self) -> bool: ...

    def request(self, user: str, source: str) -> object: ...

    async def take_resume(self, request: ResumeRequest, written_at: float, via: str) -> None: ...

    def resume_answered(self, user: str, via: str, result: str) -> None: ...


class FileHost(Protocol):
    """What the watch asks of the service (ops.safety.kill_switch.KillHost)."""

    book: Book

    @property
    def kill_file(self) -> Path: ...

    def alert(self, key: str, severity: str, message: str) -> None: ...

    def resolve(self, key: str, message: str) -> None: ...

    def notify(self, message: str) -> None: ...


class KillFileWatch:
    def __init__(self, switch: FileSwitch, host: FileHost) -> None:
        self._switch = switch
        self._host = host
        self._armed = False  # the kill file was there at the last look
        self._failing = ""  # the last look's error, logged once
        self._refused: object = None  # a bad request left in place (its identity or error)

    async def run(self) -> None:
        while True:
            try:
                await self._look()
            except Exception as exc:  # the watch must outlive any one look
                self._failed(exc)
            else:  # also closes one left open by the last run
                self._failing = ""
                self._host.resolve(INCIDENT, messages.KILL_FILE_WATCHED)
            await asyncio.sleep(self._switch.file_poll_sec)

    async def _look(self) -> None:
        path = self._host.kill_file
        exists = await asyncio.to_thread(path.exists)
        if exists and not self._armed:
            self._host.alert("kill-switch", "critical", f"kill switch file {path} found")
            self._switch.request("kill-switch-file", FILE)
        self._armed = exists
        if not exists and not self._switch.running and not self._host.book.positions():
            self._host.resolve("kill-switch", f"kill switch file {path} cleared; book flat")
        await self._take_resume_request(resume_file(path))

    def _failed(self, exc: Exception) -> None:
        if repr(exc) != self._failing:
            self._failing = repr(exc)
            log.error("watching the kill switch file failed: %r", exc, exc_info=exc)
        path = self._host.kill_file
        self._host.alert(
            INCIDENT, "critical", messages.KILL_FILE_UNWATCHED.format(path=path, error=repr(exc))
        )

    async def _take_resume_request(self, path: Path) -> None:
        try:
            info = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            self._refused = None
            return
        except OSError as exc:  # a symlink loop, say: not a request that can be read
            if self._refused != repr(exc):
                await self._refuse(path, repr(exc), exc)
            return
        if _identity(info) == self._refused:
            return  # refused already and could not be removed
        try:
            request = await asyncio.to_thread(_read, path, info)
        except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            await self._refuse(path, _identity(info), exc)
            return
        await self._switch.take_resume(request, written_at=info.st_mtime, via=RESUME_VIA)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def _refuse(self, path: Path, identity: object, exc: Exception) -> None:
        """Answer `tradebot resume` and Slack, and remove the request (else remember it)."""
        result = messages.RESUME_REQUEST_BAD.format(path=path, error=exc)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as unlink_error:
            self._refused = identity
            result += messages.RESUME_REQUEST_LEFT.format(error=unlink_error)
        self._switch.resume_answered("unknown", RESUME_VIA, result)
        self._host.notify(f"{RESUME_VIA}: {result}")


def _read(path: Path, info: os.stat_result) -> ResumeRequest:
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("not a regular file")
    if info.st_size > MAX_BYTES:
        raise ValueError(f"{info.st_size} bytes, more than a request's {MAX_BYTES}")
    return ResumeRequest.parse(path.read_text(encoding="utf-8"))


def _identity(info: os.stat_result) -> tuple[int, int, int]:
    """The same file, unchanged: a new request replaces it (new inode or time)."""
    return info.st_ino, info.st_mtime_ns, info.st_size
