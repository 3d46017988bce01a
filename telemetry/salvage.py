"""A damaged database: tell damage from a full disk, set the file aside, copy out what still reads.

A power cut mid-write on a cheap SD card can leave a zeroed header, a truncated file or a page of
garbage. The Writer must not stop on it (no daemon means no live telemetry either): it moves the
file aside with a UTC stamp (`edged.db.damaged-20261204T163000Z`, plus its `-wal`/`-shm`, so the
copy still opens with its WAL), starts a fresh database and calls `salvage` into it. Salvage
first tries the sqlite3 shell's `.recover` (bounded in time, a subprocess; absent on many Pis),
then copies table by table whatever SELECTs still read from its output or from the damaged file
itself, stepping over damaged pages by rowid. The damaged copy is never deleted: a technician
can try harder tools on it. Whatever cannot be read is lost; the alarm says so.

A full disk or an I/O error is not damage (`is_damage`): the file is left alone and the Writer
retries. Nothing here raises on a bad file: every failure is logged and counted in the result.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
RECOVER_TIMEOUT = 120.0
"""Seconds `.recover` may take before we give up on it and copy what SELECTs read."""
MAX_SKIPS = 10_000
"""Damaged spots stepped over per table before giving up on the table."""
SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass(slots=True)
class Recovery:
    """What happened to a damaged database: where the damaged copy is and what was saved."""

    aside: Path
    reason: str
    at: float
    copied: dict[str, int] = field(default_factory=dict)
    lost_spots: int = 0
    """Damaged spots stepped over while copying (each may have lost a page of rows)."""
    recover_tool: bool = False
    """True when the sqlite3 shell's `.recover` produced the copy's source."""


class Damaged(Exception):
    """`PRAGMA quick_check` found the file unsound (its first complaint is the message)."""


def is_damage(exc: BaseException) -> bool:
    """True for SQLITE_CORRUPT / SQLITE_NOTADB or `Damaged` anywhere in `exc`'s cause chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Damaged):
            return True
        code = getattr(seen, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in DAMAGE_CODES:
            return True
        if isinstance(seen, sqlite3.DatabaseError) and code is None:
            text = str(seen)  # errors raised without a code (older builds)
            if "malformed" in text or "not a database" in text:
                return True
        seen = seen.__cause__
    return False


def damaged_copies(path: Path) -> list[Path]:
    """The damaged copies set aside beside the database `path` (main files only)."""
    return sorted(
        p
        for p in path.parent.glob(f"{path.name}.damaged-*")
        if not p.name.endswith(SIDE_FILES + (".recovered",))
    )


def move_aside(path: Path, now: float) -> Path:
    """Rename the database and its side files to `<name>.damaged-<UTC stamp>[-wal|-shm]`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():  # two recoveries in one second
        aside, n = path.with_name(f"{path.name}.damaged-{stamp}.{n}"), n + 1
    for suffix in ("",) + SIDE_FILES:
        source = Path(f"{path}{suffix}")
        if source.exists():
            source.rename(f"{aside}{suffix}")
    return aside


def salvage(aside: Path, fresh: sqlite3.Connection, reason: str, now: float) -> Recovery:
    """Copy what can be read from the damaged `aside` into `fresh` (migrated, empty)."""
    result = Recovery(aside, reason, now)
    recovered = _recover_tool(aside)
    sources = [p for p in (recovered, aside) if p is not None]
    for source in sources:
        copied, spots = _copy_all(source, fresh)
        if sum(copied.values()) or source is sources[-1]:
            result.copied, result.lost_spots = copied, spots
            result.recover_tool = source is recovered
            break
    if recovered is not None:
        recovered.unlink(missing_ok=True)
    log.warning(
        "database salvage from %s: %s rows copied (%s), %d damaged spots stepped over%s",
        aside,
        sum(result.copied.values()),
        result.copied,
        result.lost_spots,
        " (via sqlite3 .recover)" if result.recover_tool else "",
    )
    return result


def _recover_tool(aside: Path) -> Path | None:
    """Run `sqlite3 <aside> .recover | sqlite3 <aside>.recovered`, bounded; None if unusable."""
    shell = shutil.which("sqlite3")
    if shell is None:
        return None
    out = aside.with_name(aside.name + ".recovered")
    out.unlink(missing_ok=True)
    try:
        dump = subprocess.run(
            [shell, str(aside), ".recover"],
            capture_output=True,
            timeout=RECOVER_TIMEOUT,
            check=False,
        )
        subprocess.run(
            [shell, str(out)],
            input=dump.stdout,
            capture_output=True,
            timeout=RECOVER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("sqlite3 .recover on %s failed, copying what reads: %s", aside, exc)
        out.unlink(missing_ok=True)
        return None
    return out if out.exists() else None


def _copy_all(source: Path, fresh: sqlite3.Connection) -> tuple[dict[str, int], int]:
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        log.warning("cannot open %s for salvage: %s", source, exc)
        return {}, 0
    copied: dict[str, int] = {}
    spots = 0
    try:
        tables = [
            name
            for (name,) in fresh.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        fresh.execute("BEGIN IMMEDIATE")
        for table in tables:
            cols = [row[1] for row in fresh.execute(f"PRAGMA table_info({table})")]
            n, lost = _copy_table(src, fresh, table, cols)
            copied[table], spots = n, spots + lost
        # an outbox row whose record was lost would point at nothing
        fresh.execute("DELETE FROM outbox WHERE record_id NOT IN (SELECT id FROM records)")
        fresh.execute("COMMIT")
    except sqlite3.Error as exc:
        log.error("salvage into the fresh database failed: %s", exc)
        if fresh.in_transaction:
            fresh.execute("ROLLBACK")
        return {}, spots
    finally:
        src.close()
    return {t: n for t, n in copied.items() if n}, spots


def _copy_table(
    src: sqlite3.Connection, dst: sqlite3.Connection, table: str, cols: list[str]
) -> tuple[int, int]:
    """Copy `table` row by row in rowid order, stepping over damaged pages; (rows, spots)."""
    names = ", ".join(cols)
    select = f"SELECT rowid, {names} FROM {table} WHERE rowid > ? ORDER BY rowid"
    insert = f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(cols))})"
    after, copied, spots = -(2**63), 0, 0
    while spots <= MAX_SKIPS:
        try:
            for row in src.execute(select, (after,)):
                after = row[0]
                try:
                    copied += dst.execute(insert, row[1:]).rowcount
                except (sqlite3.IntegrityError, sqlite3.InterfaceError, OverflowError):
                    spots += 1  # a garbage row that reads but does not fit the schema
            return copied, spots
        except sqlite3.OperationalError as exc:  # no such table/column: nothing to copy
            if not is_damage(exc):
                return copied, spots
        except sqlite3.DatabaseError:
            pass
        spots += 1
        resume = _next_readable(src, table, after)
        if resume is None:
            return copied, spots
        after = resume
    return copied, spots


def _next_readable(src: sqlite3.Connection, table: str, after: int) -> int | None:
    """A rowid to resume after, past the damaged page that stopped a scan at `after`: seek
    further and further ahead (a seek reads one root-to-leaf path, not the damaged leaf)."""
    step = 1
    while step < 2**62:
        probe = after + step if after < 2**62 - step else None
        if probe is None:
            return None
        try:
            row = src.execute(f"SELECT min(rowid) FROM {table} WHERE rowid > ?", (probe,))
            found = row.fetchone()[0]
        except sqlite3.DatabaseError:
            step *= 2
            continue
        return None if found is None else found - 1
    return None
