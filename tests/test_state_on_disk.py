"""A trading-state change someone is told of is on disk first: a crash right after the reply
(or the incident, or a kill's first close) cannot bring a restart back in an older state.

The journal here holds its writer at the first batch with a state change, as a process killed
before that batch was written would: nothing may be said, and no close sent, until released."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path

import sqlite_utils

from ops.journal.journal import Journal
from ops.shared.results import ConfirmRequest, Done, KillReport
from strategy.clock import Clock
from strategy.types import CloseAllResult, TradingState
from strategy.venues.sim import SimBroker, SimSettings
from tests.support import REPO, eventually, make_harness, write_config
from tests.test_commands import feed_bars_until, open_spy_position
from tests.test_monitor import RecordingSink


class HeldJournal(Journal):
    """Its writer stops before the first batch holding a state change until `release`."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.holding = threading.Event()
        self.release = threading.Event()

    def _write(self, db: sqlite_utils.Database, batch) -> None:  # type: ignore[no-untyped-def]
        if "state_changes" in batch and not self.release.is_set():
            self.holding.set()
            self.release.wait()
        super()._write(db, batch)


def state_on_disk(path: Path) -> str | None:
    """What a restart would restore: the last state row in the file."""
    with sqlite3.connect(path) as db:
        row = db.execute("select state from state_changes order by id desc limit 1").fetchone()
    return None if row is None else str(row[0])


class CloseRecorder(SimBroker):
    """Records, as each close-all goes out, the state the journal file holds."""

    def __init__(self, settings: SimSettings, clock: Clock) -> None:
        super().__init__(settings, clock)
        self.journal_path = Path()
        self.cancels = 0
        self.closes: list[str | None] = []

    async def cancel_all(self) -> None:
        self.cancels += 1
        await super().cancel_all()

    async def close_all(self) -> CloseAllResult:
        self.closes.append(state_on_disk(self.journal_path))
        return await super().close_all()


async def test_a_pause_is_on_disk_before_the_operator_is_told(tmp_path: Path) -> None:
    """`pause` (console and Slack share the command core): no reply while the PAUSED row is
    not written; once it is, the reply, and the file says PAUSED."""
    h = make_harness(tmp_path, journal_type=HeldJournal)
    journal = h.journal
    assert isinstance(journal, HeldJournal)
    reply = asyncio.create_task(h.run("pause"))
    await eventually(journal.holding.is_set)
    assert not reply.done(), "the operator was told PAUSED before it was on disk"
    assert h.service.gate.state is TradingState.PAUSED  # in force at once all the same
    journal.release.set()
    assert isinstance(await reply, Done)
    assert state_on_disk(journal.path) == "PAUSED"


async def test_a_kill_sends_no_close_before_its_halt_is_on_disk(tmp_path: Path) -> None:
    """A confirmed kill halts at once and cancels, but its first close goes out only once the
    HALT is on disk; the report (the operator's reply) comes after that."""
    h = make_harness(tmp_path, journal_type=HeldJournal, **{"kill.poll_sec": 0.01})
    journal = h.journal
    assert isinstance(journal, HeldJournal)
    broker = h.swap_broker(CloseRecorder)
    broker.journal_path = journal.path
    await open_spy_position(h)
    request = await h.run("kill")
    assert isinstance(request, ConfirmRequest)
    kill = asyncio.create_task(h.core.confirm(request.nonce, "U1", "C1", "test"))
    await eventually(lambda: journal.holding.is_set() and broker.cancels > 0)
    assert broker.closes == [], "a close went out while the HALT was only in memory"
    assert h.service.gate.state is TradingState.HALTED
    journal.release.set()
    await feed_bars_until(h, kill, 22)
    report = kill.result()
    assert isinstance(report, KillReport) and report.flat
    assert broker.closes == ["HALTED"]


async def test_an_automatic_change_is_announced_once_on_disk(tmp_path: Path) -> None:
    """A risk breach (and the dead-man, through the same owner): trading is REDUCING at once,
    but its incident is raised only once the row is on disk."""
    h = make_harness(tmp_path, journal_type=HeldJournal)
    journal = h.journal
    assert isinstance(journal, HeldJournal)
    sink = RecordingSink()
    h.service.add_alert_sink(sink)
    h.service.trading.risk_breach("daily loss 4% reached max_daily_loss_pct 3%")
    assert h.service.gate.state is TradingState.REDUCING
    await eventually(journal.holding.is_set)
    assert "trading-state" not in h.service.open_alerts
    assert [e for e in sink.events if e[1] == "trading-state"] == []
    journal.release.set()
    await eventually(lambda: [e[:2] for e in sink.events] == [("raise", "trading-state")])
    assert state_on_disk(journal.path) == "REDUCING"


async def test_tradebot_resume_answers_once_active_is_on_disk(tmp_path: Path) -> None:
    """`tradebot resume` (the resume file) waits on the service's answer: it comes once the
    ACTIVE row is written."""
    h = make_harness(tmp_path, journal_type=HeldJournal)
    journal = h.journal
    assert isinstance(journal, HeldJournal)
    journal.release.set()
    h.service.set_state(TradingState.HALTED, "kill by U1", "U1")
    assert await journal.aflush()
    journal.release.clear()
    journal.holding.clear()
    answer = asyncio.create_task(h.service.kill_switch.resume("U2", "tradebot resume"))
    await eventually(journal.holding.is_set)
    assert not answer.done(), "tradebot resume was answered before ACTIVE was on disk"
    journal.release.set()
    assert "trading is ACTIVE" in await answer
    assert state_on_disk(journal.path) == "ACTIVE"


class SyncCounting(Journal):
    """Counts the syncs to disk; while `refuse` is set the database refuses every write."""

    syncs = 0
    refuse = False

    def _write(self, db: sqlite_utils.Database, batch) -> None:  # type: ignore[no-untyped-def]
        if self.refuse:
            raise sqlite3.OperationalError("disk I/O error")
        super()._write(db, batch)

    def _sync(self) -> None:
        self.syncs += 1
        super()._sync()


async def test_a_durable_row_is_synced_or_said_to_be_lost(tmp_path: Path) -> None:
    """`record_durably`: True once the row is committed and synced to the disk; False when the
    journal gave up on it (closed while the disk refused every write), never a false True."""
    journal = SyncCounting(tmp_path / "journal.db", close_timeout=0.2)
    journal.start()
    assert await journal.record_durably("anomalies", {"kind": "x", "detail": "1"})
    assert journal.syncs == 1
    assert journal.query("select detail from anomalies") == [{"detail": "1"}]
    journal.refuse = True
    lost = journal.record_durably("anomalies", {"kind": "x", "detail": "2"})
    await asyncio.to_thread(journal.close)
    assert await lost is False
    assert journal.syncs == 1


async def test_a_tradebot_run_sigkilled_right_after_a_kill_reply_comes_back_halted(
    tmp_path: Path,
) -> None:
    """A real `tradebot run` on a busy simulated market: a kill confirmed at the console, the
    process SIGKILLed the moment the report is printed: the journal (what a restart restores)
    says HALTED."""
    config = write_config(tmp_path, **{"kill.poll_sec": 0.05})
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALPACA_"))}
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "run", "--config", str(config), "--speed", "0"),
        cwd=REPO,
        env=clean,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        while b"console ready" not in await asyncio.wait_for(proc.stdout.readline(), 30):
            pass
        proc.stdin.write(b"kill\ny\n")
        await proc.stdin.drain()
        while b"KILL by console" not in await asyncio.wait_for(proc.stdout.readline(), 30):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert state_on_disk(tmp_path / "journal.db") == "HALTED"
