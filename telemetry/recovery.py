"""Opening the Writer's database file, and replacing it when it is damaged.

A damaged file must show at start, not as a commit that fails forever: `open_checked` runs
`quick_check` and the reads `Ids.load` makes before the Writer adopts the file. A damaged file
is salvaged into a fresh one and swapped in (`replace_damaged`): the rows `telemetry.salvage`
can still read go across, the damaged file is kept aside for a technician. While the file
cannot be opened for writing at all (a full disk, an I/O error), `floor_ids` gives ids past any
stored one, so records going out live meanwhile never reuse an id or a seq.

Only this module renames database files; it runs on the Writer's thread.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

from telemetry import salvage, store
from telemetry.database import Database

log = logging.getLogger(__name__)

ID_GAP = 1_000_000
"""Ids skipped past what a read-only look found when the database cannot be opened for writing:
its WAL may hold newer rows that look could not see, and an id or seq must never be reused.
Seqs skip `ID_GAP * seq_range`: every block of a commit sets a range of `seq_range` aside."""


def open_checked(path: Path) -> Database:
    """`open_db`, then `quick_check` and the reads `Ids.load` makes: damage shows here, at
    start, rather than as a commit that fails forever (bench/bench_salvage.py: 0.1-0.2 s for
    65 MB here, a few seconds on a Pi's SD card)."""
    db = store.open_db(path)
    try:
        problem = store.quick_check(db)
        if problem is not None:
            raise salvage.Damaged(f"quick_check: {problem}")
        store.Ids.load(db)
    except BaseException:
        db.close()
        raise
    return db


def replace_damaged(path: Path, exc: BaseException) -> salvage.Recovery:
    """Salvage the damaged file into `<db>.salvage`, then set it aside and put the salvage in
    its place. In that order, so a cut during a long salvage leaves the damaged file where
    it was: the next start finds it damaged and salvages again, nothing is lost. The caller
    has closed its connection to the damaged file."""
    now = time.time()
    log.error("database %s is damaged (%s): salvaging it into a fresh one", path, exc)
    building = path.with_name(path.name + ".salvage")
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{building}{suffix}").unlink(missing_ok=True)  # a salvage a cut interrupted
    fresh = store.open_db(building)
    recovery = salvage.salvage(path, fresh.conn, str(exc), now)
    fresh.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fresh.close()  # its WAL is gone with the last connection: one file to rename
    recovery.aside = salvage.move_aside(path, now)
    building.replace(path)
    sync_directory(path.parent)
    log.error("damaged database moved aside to %s", recovery.aside.name)
    return recovery


def floor_ids(path: Path, seq_range: int) -> store.Ids:
    """Ids safely past any stored one, from a read-only look that needs no write (no WAL
    index): used while the database cannot be opened for writing."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            ids = store.Ids.load(Database(conn))
        finally:
            conn.close()
    except sqlite3.Error:
        if not path.exists():
            return store.Ids({}, 1, 1)
        ids = store.Ids({}, 1, 1)
    return store.Ids({}, ids.next_seq + ID_GAP * seq_range, ids.next_record_id + ID_GAP)


def sync_directory(path: Path) -> None:
    """fsync a directory, so the renames in it survive a power cut."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
