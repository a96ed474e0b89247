"""`tradebot run` at a terminal (a pseudo-terminal): log lines arriving while a command is
half typed print above the prompt, and the prompt comes back with the typed text."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.support import REPO, write_config

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LOG_LINE = re.compile(r"\d\d:\d\d:\d\d ET INFO ")


class Terminal:
    """The far end of a pty: what the program drew so far, and keys to send."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.raw = ""

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def wait_for(self, pattern: str | re.Pattern[str], start: int = 0, within: float = 20) -> int:
        """Read until `pattern` shows up in the output after `start`; its offset."""
        deadline = time.monotonic() + within
        while True:
            found = re.compile(pattern).search(self.raw, start)
            if found:
                return found.start()
            left = deadline - time.monotonic()
            assert left > 0, f"{pattern!r} not drawn; got {self.raw[start:][-2000:]!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    self.raw += os.read(self.fd, 65536).decode(errors="replace")
                except OSError as exc:  # the program closed the terminal
                    raise AssertionError(f"{pattern!r} never drawn: {self.raw[-2000:]!r}") from exc


def test_log_lines_print_above_the_prompt_and_the_typed_text_survives(tmp_path: Path) -> None:
    """A log line that arrives while `sta` is typed is printed after the prompt line was erased,
    the prompt is redrawn below it with `sta`, and finishing the word runs `status`."""
    config = write_config(tmp_path)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALPACA_", "TRADEBOT_"))
    }
    env.update(TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", COLUMNS="200", LINES="50")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config), "--duration", "60"],
        cwd=REPO,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    screen = Terminal(master)
    try:
        prompt = screen.wait_for("trade>")
        screen.type("sta")
        typed = screen.wait_for("sta", prompt)
        logged = screen.wait_for(LOG_LINE, typed)
        assert "\x1b[J" in screen.raw[typed:logged]  # the prompt line was erased first
        redrawn = screen.wait_for(rf"trade>(?:{ESCAPE.pattern}| )*sta", logged)
        screen.type("tus\r")
        screen.wait_for("MeanReversionV1 on sim", redrawn)
        screen.type("quit\r")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert "Traceback" not in ESCAPE.sub("", screen.raw)
