"""One journal per venue and account. A journal holds the book's history, peak and day start,
the open incidents, the trading state and the operators' changes: read by a run against another
account they would be taken for its own (the simulator's $100k as a live peak, its shares as
the operator's). So the default journal is a file per owner under journal.dir, and each journal
records its owner (`journal_owner`, written at its first start); a start against another owner
is refused before anything is read from it or written to it. `journal.path` (or TRADEBOT_DB)
still names one file explicitly; that file then serves only the owner that first used it."""

from __future__ import annotations

import re
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ops.shared.errors import StartupError

if TYPE_CHECKING:
    from ops.config.settings import Settings

UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# What `run_info.venue` said for each owner's venue, on journals older than `journal_owner`.
RUN_LABELS = {"alpaca-paper": "alpaca paper", "alpaca-live": "alpaca LIVE"}


@dataclass(frozen=True, slots=True)
class JournalOwner:
    """venue: sim | replay | cluster | alpaca-paper | alpaca-live; account: the replayed file's
    stem, the cluster's account name or the Alpaca account number ("" for the simulator)."""

    venue: str
    account: str = ""

    @classmethod
    def alpaca(cls, paper: bool, account_number: str) -> JournalOwner:
        return cls("alpaca-paper" if paper else "alpaca-live", account_number)

    @classmethod
    def simulator(cls, data: str) -> JournalOwner:
        """The simulator on synthetic bars, or a replay of the CSV `data`."""
        return cls("replay", Path(data).stem) if data else cls("sim")

    @property
    def file_name(self) -> str:
        account = UNSAFE.sub("_", self.account)
        return f"{self.venue}-{account}.db" if account else f"{self.venue}.db"

    def __str__(self) -> str:
        if self.venue == "sim":
            return "the simulator"
        if self.venue == "replay":
            return f"a replay of {self.account}"
        if self.venue == "cluster":
            return f"the cluster's simulated account {self.account}"
        mode = "paper" if self.venue == "alpaca-paper" else "LIVE"
        return f"Alpaca {mode} account {self.account}"


def journal_file(settings: Settings, owner: JournalOwner) -> Path:
    """The file `journal.path` names, else the owner's own under journal.dir."""
    explicit = settings.text("journal.path")
    if explicit:
        return Path(explicit)
    return Path(settings.text("journal.dir")) / owner.file_name


def journal_folder(settings: Settings) -> Path:
    """Where the journals (and what lives beside them: the bar cache, the gateway's) are."""
    explicit = settings.text("journal.path")
    return Path(explicit).parent if explicit else Path(settings.text("journal.dir"))


def kill_file(settings: Settings, journal: Path) -> Path:
    """The kill switch file of the service on `journal`: `monitoring.kill_switch_file`, else
    `<journal>.kill` beside it, so a kill (and the resume request beside it) reaches only the
    service whose journal it names, not every service on the host."""
    explicit = settings.text("monitoring.kill_switch_file")
    return Path(explicit) if explicit else journal.with_name(journal.name + ".kill")


def expected_file(settings: Settings) -> str:
    """The journal a run of this config uses, as far as it is known without the broker: an
    Alpaca account's number is known only to Alpaca."""
    if settings.text("journal.path") or settings.get("broker.name") != "alpaca":
        return str(journal_file(settings, JournalOwner.simulator(settings.text("sim.data"))))
    mode = JournalOwner.alpaca(bool(settings.get("broker.paper")), "").venue
    return str(Path(settings.text("journal.dir")) / f"{mode}-<account number>.db")


def find_journal(settings: Settings) -> Path:
    """The journal of this config, for commands that do not start a venue (`journal prune`,
    `backtest`, `kill`, `resume`): an Alpaca account's is found by its file name (the one
    journal of a paper or live account under journal.dir); several are refused, naming them."""
    expected = expected_file(settings)
    if "<account number>" not in expected:
        return Path(expected)
    pattern = Path(expected)
    found = sorted(pattern.parent.glob(pattern.name.replace("<account number>", "*")))
    if len(found) == 1:
        return found[0]
    if not found:
        raise StartupError(
            f"no journal {expected} yet (the first `tradebot run` on the account writes it): "
            "set journal.path (or TRADEBOT_DB) to name one"
        )
    names = ", ".join(str(p) for p in found)
    raise StartupError(
        f"several journals match {expected} ({names}): set journal.path (or TRADEBOT_DB) "
        "to the one you mean"
    )


def recorded(path: Path) -> JournalOwner | None:
    """The owner `path` records, or None (no such journal, none recorded yet, unreadable)."""
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(path)) as db:
            row = db.execute("select venue, account from journal_owner order by id").fetchone()
    except sqlite3.Error:  # no journal_owner table (yet), or not a journal
        return None
    return None if row is None else JournalOwner(str(row[0]), str(row[1]))


def find_kill_file(settings: Settings) -> Path:
    """The kill file of this config's service, found as `find_journal` finds its journal (for
    `tradebot kill` / `resume`, which start no venue)."""
    explicit = settings.text("monitoring.kill_switch_file")
    return Path(explicit) if explicit else kill_file(settings, find_journal(settings))


def claim(path: Path, owner: JournalOwner) -> None:
    """Record `owner` in a journal that has none; StartupError (nothing written) when the
    journal belongs to another venue or account."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with closing(sqlite3.connect(path)) as db:
            _claim(db, path, owner)
    except sqlite3.DatabaseError as exc:
        raise StartupError(f"cannot open the journal {path}: {exc}") from exc


def _claim(db: sqlite3.Connection, path: Path, owner: JournalOwner) -> None:
    recorded = _recorded_owner(db, owner)
    if recorded is not None and recorded != owner:
        raise StartupError(
            f"the journal {path} belongs to {recorded}, not {owner}: each venue and account "
            "keeps its own journal (leave journal.path empty for one each, or name another file)"
        )
    if recorded is None:
        with db:
            db.execute(
                "create table if not exists journal_owner "
                "(id integer primary key, ts real, venue text, account text)"
            )
            db.execute(
                "insert into journal_owner (ts, venue, account) values (?, ?, ?)",
                (time.time(), owner.venue, owner.account),
            )


def _recorded_owner(db: sqlite3.Connection, owner: JournalOwner) -> JournalOwner | str | None:
    """The owner the journal records; for a journal older than the record, what its runs
    say (`run_info.venue`) when that is another venue than `owner`'s."""
    tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
    if "journal_owner" in tables:
        row = db.execute("select venue, account from journal_owner order by id limit 1").fetchone()
        if row is not None:
            return JournalOwner(str(row[0]), str(row[1]))
    if "run_info" not in tables:
        return None
    venues = [
        str(row[0])
        for row in db.execute(
            "select venue from run_info where venue is not null group by venue order by min(id)"
        )
    ]
    if all(venue == RUN_LABELS.get(owner.venue, "sim") for venue in venues):
        return None
    return f"runs on {' and '.join(venues)} (before journals recorded their owner)"
