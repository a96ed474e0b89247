"""One trading service per journal. A second `tradebot run` on the same journal would trade the
same account beside the first, and Slack gives each command to one of the connected apps, so
a KILL could halt one of the two. The lock is an flock on a file beside the journal: the
system releases it when the process ends, however it ends, so it is never stale."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path
from typing import IO

from ops.shared.errors import StartupError
from strategy.market_day import market_time


class InstanceLock:
    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle

    def release(self) -> None:
        self._handle.close()


def lock_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".lock")


def hold(journal: Path) -> InstanceLock:
    """The lock on `journal`, or StartupError naming the process that holds it."""
    path = lock_path(journal)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "a process that has not said which"
        handle.close()
        raise StartupError(
            f"a tradebot service is already running on this journal ({holder}; {journal}): "
            "two would both trade the account, and Slack would give each command to one of "
            "them. Stop it first, or give this one its own journal.path"
        ) from None
    handle.seek(0)
    handle.truncate()
    since = market_time(time.time(), "%Y-%m-%d %H:%M:%S")
    handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {since}")
    handle.flush()
    return InstanceLock(handle)
