"""The terminal console: reads `/trade ...` lines, answers in text, confirms with y/N.

At a terminal the lines are read with prompt_toolkit, and everything printed meanwhile (answers
and log lines) goes above the prompt, leaving the prompt and what is being typed intact. From a
pipe (scripts, tests) lines are read plainly and the prompt is written to stdout."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Protocol, TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.patch_stdout import patch_stdout

from bot.render_text import render
from ops.control.commands import CommandCore
from ops.control.parsing import MAX_COMMAND_CHARS
from ops.control.preview import Ticket
from ops.shared import messages
from ops.shared.results import CommandError, ConfirmRequest, HelpResult, UsageRefused

log = logging.getLogger(__name__)
USER = "console"
CHANNEL = "terminal"
QUIT = frozenset({"quit", "exit", "q"})


class LineTooLong(Exception):
    """A line longer than a reader holds at once, skipped whole."""

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length


class Lines(Protocol):
    """Where the console's lines come from."""

    def screen(self, out: TextIO) -> AbstractContextManager[TextIO]:
        """While open: the stream to print on (given `out`, the console's own)."""
        ...

    async def ask(self, prompt: str, out: TextIO) -> str | None:
        """The next line, stripped; None at end of input; LineTooLong for one skipped."""
        ...


class PipeLines:
    """Lines from a pipe: the prompt is written to `out`, then a line is read."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def screen(self, out: TextIO) -> AbstractContextManager[TextIO]:
        return nullcontext(out)

    async def ask(self, prompt: str, out: TextIO) -> str | None:
        out.write(prompt)
        out.flush()
        raw = await self._line()
        return None if not raw else raw.decode(errors="replace").strip()

    async def _line(self) -> bytes:
        """The next line. One longer than the reader's buffer is skipped to its end (so no part
        of it comes back as another line) and raises LineTooLong with its length."""
        try:
            return await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:  # the last line has no newline
            return end.partial
        except asyncio.LimitOverrunError as overrun:
            skipped = len(await self._reader.readexactly(overrun.consumed))
        while True:
            try:
                skipped += len(await self._reader.readuntil(b"\n")) - 1  # not the newline
                break
            except asyncio.IncompleteReadError as end:
                skipped += len(end.partial)
                break
            except asyncio.LimitOverrunError as overrun:
                skipped += len(await self._reader.readexactly(overrun.consumed))
        raise LineTooLong(skipped)


class PromptLines:
    """Lines typed at a terminal (prompt_toolkit): whatever is printed on sys.stdout or
    sys.stderr while the screen is open, log lines included, appears above the prompt."""

    def __init__(self, session: PromptSession[str] | None = None) -> None:
        self._session = session or PromptSession()

    @contextmanager
    def screen(self, out: TextIO) -> Iterator[TextIO]:
        with patch_stdout(raw=True):
            yield sys.stdout

    async def ask(self, prompt: str, out: TextIO) -> str | None:
        try:
            line = await self._session.prompt_async(prompt)
        except (EOFError, KeyboardInterrupt):  # Ctrl-D / Ctrl-C: as end of input
            return None
        return line.strip()


def stdin_is_readable() -> bool:
    """A console needs a terminal or a pipe; /dev/null or a plain file means no console."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return False
    if sys.stdin.isatty():
        return True
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def open_stdin() -> Lines:
    """prompt_toolkit when both ends are a terminal, else plain lines from the pipe."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        return PromptLines()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return PipeLines(reader)


class Console:
    def __init__(self, core: CommandCore, lines: Lines, out: TextIO) -> None:
        self._core = core
        self._lines = lines
        self._out = out
        self.output_closed = False  # whoever read the output has gone (`tradebot run | head`)

    def _say(self, text: str) -> None:
        try:
            self._out.write(text + "\n")
            self._out.flush()
        except BrokenPipeError:
            self._output_gone()

    def _output_gone(self) -> None:
        """Nobody reads the answers any more: the console ends as at the end of its input.
        Not an incident: trading never depended on it."""
        if not self.output_closed:
            log.info("console: its output was closed; the console ends as at end of input")
        self.output_closed = True

    async def _ask(self, prompt: str) -> str | None:
        """The next line; one too long to read is refused here and answers as empty; None at
        the end of input or once the output is closed."""
        if self.output_closed:
            return None
        try:
            return await self._lines.ask(prompt, self._out)
        except BrokenPipeError:  # the prompt could not be written
            self._output_gone()
            return None
        except LineTooLong as exc:
            refusal = messages.LINE_TOO_LONG.format(most=MAX_COMMAND_CHARS, length=exc.length)
            line = f"({exc.length:,} bytes)"
            self._core.audit(USER, CHANNEL, "console", line, "refused", refusal)
            self._say(f"! {refusal}")
            return ""

    async def run(self) -> bool:
        """Serve commands until end of input; True if the user asked to quit."""
        original = self._out
        with self._lines.screen(original) as self._out:
            try:
                return await self._serve()
            finally:
                self._out = original

    async def _serve(self) -> bool:
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
            if isinstance(result, HelpResult):  # the console's own command, beside the core's
                result = HelpResult((*result.lines, *messages.CONSOLE_HELP))
            self._say(render(result))
            if isinstance(result, ConfirmRequest):
                await self._confirm(result)
        except UsageRefused as exc:
            self._say(f"! {exc}{messages.CONSOLE_USAGE}")
        except CommandError as exc:
            self._say(f"! {exc}")
        except Exception as exc:  # the surface's boundary: report, never crash the service
            self._core.incidents.report_error("console-command", exc)
            self._say("! internal error while running that command; see the log")

    async def _confirm(self, request: ConfirmRequest) -> None:
        ticket = self._core.previews.take(request.nonce)
        shown = None
        if ticket is not None:
            self._say(f"  - {ticket.pending}")
            shown = self._core.spawn("console-preview", self._show_preview(ticket))
        try:
            answer = await self._ask("Confirm? [y/N] ")
        finally:
            if ticket is not None and shown is not None:  # answered: a late one is not wanted
                ticket.task.cancel()
                shown.cancel()
        if answer is not None and answer.lower() in ("y", "yes"):
            result = await self._core.confirm(request.nonce, USER, CHANNEL, "console")
        else:
            result = self._core.cancel(request.nonce, USER, CHANNEL, "console")
        self._say(render(result))

    async def _show_preview(self, ticket: Ticket) -> None:
        """The backtest preview, printed while the confirmation waits for its answer."""
        preview = await ticket.task
        self._say("\n".join(f"  {line}" for line in preview.lines))
