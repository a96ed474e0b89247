"""The journal's SQLite file: opened (WAL, schema), written a batch at a time, synced to disk."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import sqlite_utils

from ops.journal.schema import create_schema


def open_database(path: Path) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    db.execute("pragma journal_mode=wal")
    db.execute("pragma synchronous=normal")
    create_schema(db)
    return db


def write_batch(db: sqlite_utils.Database, batch: Mapping[str, list[dict[str, object]]]) -> None:
    """One transaction for the whole batch: a failed attempt leaves nothing behind, so a retry
    cannot write a row twice."""
    with db.atomic():
        for table, rows in batch.items():
            db[table].insert_all(rows, alter=True)  # type: ignore[union-attr]


def sync_to_disk(path: Path) -> None:
    """With `synchronous=normal` a commit reaches the WAL (a crash of this process keeps it) but
    not the disk (a power cut may not): this puts the WAL and the file onto the disk."""
    for name in (path.with_name(path.name + "-wal"), path):
        try:
            fd = os.open(name, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
