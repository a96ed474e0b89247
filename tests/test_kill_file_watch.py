"""The kill file is watched whatever happens: a resume request that is not one is refused,
reported and removed (or left alone once), a look that fails is an incident, and a kill file
that appears afterwards still kills. The service's long-lived tasks restart after a failure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from ops.safety.kill_file_watch import INCIDENT
from ops.safety.resume_request import resume_file
from strategy.types import TradingState
from tests.support import Harness, eventually
from tests.test_kill_switch import kill_rows, started


def resume_rows(h: Harness) -> list[str]:
    h.journal.flush()
    return [
        str(r["detail"]) for r in h.journal.query("select detail from runs where event='resume'")
    ]


def whole(path: Path, content: bytes) -> None:
    """Written as `tradebot resume` writes: the watcher never sees half of it."""
    staged = path.with_name("staged")
    staged.write_bytes(content)
    staged.replace(path)


def not_utf8(path: Path) -> None:
    whole(path, b"\xff\xfe alice\n")


def a_directory(path: Path) -> None:
    path.mkdir()


def a_symlink_loop(path: Path) -> None:
    path.symlink_to(path.name)  # reading it fails with an OSError (ELOOP)


def a_bad_count(path: Path) -> None:
    whole(path, b"alice kills=two state=HALTED\n")


@pytest.mark.parametrize(
    ("make", "removable"),
    [(not_utf8, True), (a_directory, False), (a_symlink_loop, True), (a_bad_count, True)],
)
async def test_a_bad_resume_request_is_refused_and_the_kill_file_still_kills(
    tmp_path: Path, make: Callable[[Path], None], removable: bool
) -> None:
    """Refused (journaled, a notice, the answer `tradebot resume` waits for) and removed, or,
    when it cannot be removed, refused once; the watch goes on and a kill file then kills."""
    h, sink = await started(tmp_path)
    request = resume_file(h.service.kill_file)
    make(request)
    await eventually(lambda: h.service.kill_switch.status().resume_requests == 1)
    assert h.service.kill_switch.status().resume_result.startswith(
        f"refused: the resume request {request} is not one"
    )
    assert any("tradebot resume: refused" in notice for notice in sink.notices)
    if removable:
        await eventually(lambda: not request.is_symlink() and not request.exists())
    h.service.kill_file.touch()
    await eventually(lambda: len(kill_rows(h)) == 1)
    assert h.service.gate.state is TradingState.HALTED
    assert len(resume_rows(h)) == 1  # refused once, not at every look
    assert request.exists() is not removable
    await h.service.stop()


async def test_a_kill_file_that_cannot_be_checked_is_an_incident_and_the_watch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checking the kill file fails (permission denied): an incident says a kill file is not
    seen meanwhile; once the check works again the incident resolves and a kill file kills."""
    h, sink = await started(tmp_path)
    kill_file = h.service.kill_file
    denied = True
    exists = Path.exists

    def checked(path: Path) -> bool:
        if path == kill_file and denied:
            raise PermissionError(13, "Permission denied", str(path))
        return exists(path)

    monkeypatch.setattr(Path, "exists", checked)
    await eventually(lambda: INCIDENT in h.service.open_alerts)
    assert "cannot be checked (PermissionError(13" in h.service.open_alerts[INCIDENT]
    denied = False
    await eventually(lambda: INCIDENT not in h.service.open_alerts)
    assert INCIDENT in sink.resolved
    kill_file.touch()
    await eventually(lambda: len(kill_rows(h)) == 1)
    await h.service.stop()


async def test_a_supervised_task_that_fails_is_reported_and_started_again(
    tmp_path: Path,
) -> None:
    """A long-lived task's failure is an incident (and in the journal), and it runs again."""
    h, _ = await started(tmp_path)
    h.service.restart_sec = 0.01
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("lost its place")

    task = h.service.supervise("flaky", flaky)
    await asyncio.wait_for(task, 5)
    assert runs == [0, 1]
    assert "lost its place" in h.service.open_alerts["error:task-flaky:RuntimeError"]
    h.journal.flush()
    assert h.journal.query("select origin from errors") == [{"origin": "task-flaky"}]
    await h.service.stop()
