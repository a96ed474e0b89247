"""The terminal console: reads `/trade ...` lines, answers in text, confirms with y/N."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from typing import TextIO

from bot.render_text import render
from ops.commands import CommandCore
from ops.results import CommandError, ConfirmRequest

USER = "console"
CHANNEL = "terminal"
QUIT = frozenset({"quit", "exit", "q"})


def stdin_is_readable() -> bool:
    """A console needs a terminal or a pipe; /dev/null or a plain file means no console."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return False
    if sys.stdin.isatty():
        return True
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def open_stdin() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


class Console:
    def __init__(self, core: CommandCore, reader: asyncio.StreamReader, out: TextIO) -> None:
        self._core = core
        self._reader = reader
        self._out = out

    def _say(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()

    async def _ask(self, prompt: str) -> str | None:
        self._out.write(prompt)
        self._out.flush()
        raw = await self._reader.readline()
        return None if not raw else raw.decode(errors="replace").strip()

    async def run(self) -> bool:
        """Serve commands until end of input; True if the user asked to quit."""
        self._say("console ready: type `/trade help` (or `help`); `quit` stops the service")
        while True:
            line = await self._ask("trade> ")
            if line is None:
                return False
            if not line:
                continue
            if line.lower() in QUIT:
                return True
            await self.execute(line)

    async def execute(self, line: str) -> None:
        try:
            result = await self._core.handle(line, USER, CHANNEL, "console")
            self._say(render(result))
            if isinstance(result, ConfirmRequest):
                await self._confirm(result)
        except CommandError as exc:
            self._say(f"! {exc}")
        except Exception as exc:  # the surface's boundary: report, never crash the service
            self._core.service.report_error("console-command", exc)
            self._say("! internal error while running that command; see the log")

    async def _confirm(self, request: ConfirmRequest) -> None:
        answer = await self._ask("Confirm? [y/N] ")
        if answer is not None and answer.lower() in ("y", "yes"):
            result = await self._core.confirm(request.nonce, USER, CHANNEL, "console")
        else:
            result = self._core.cancel(request.nonce, USER, CHANNEL, "console")
        self._say(render(result))
