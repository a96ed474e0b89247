"""A SIGKILL in the middle of the journal's batches: what was flushed is there, the rest is a
clean prefix (no holes, no corruption), and the next start-up says the run did not stop."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

from tests.support import REPO

WRITER = """
import sys, time
from ops.journal.journal import Journal
journal = Journal(sys.argv[1])
journal.start()
for i in range(1, 2001):
    journal.record("anomalies", {"kind": "seq", "detail": str(i)})
journal.flush()
print("flushed 2000", flush=True)
i = 2000
while True:  # keeps the writer busy with batches until the kill lands
    i += 1
    journal.record("anomalies", {"kind": "seq", "detail": str(i)})
    if i % 500 == 0:
        time.sleep(0.001)
"""


async def test_a_sigkill_mid_batch_keeps_every_flushed_row_and_a_clean_prefix(
    tmp_path: Path,
) -> None:
    """Killed while batches are being written: the database opens intact, every row flushed
    before the kill is there, and what was written after it is an unbroken prefix."""
    path = tmp_path / "journal.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(path), cwd=REPO, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"flushed 2000"
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    with sqlite3.connect(path) as db:
        assert db.execute("pragma integrity_check").fetchone() == ("ok",)
        seq = [int(r[0]) for r in db.execute("select detail from anomalies order by id")]
    assert seq[:2000] == list(range(1, 2001))
    assert seq == list(range(1, len(seq) + 1))
