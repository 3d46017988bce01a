"""The SQLite database on the SD card: connection settings, migration, and the Writer's batch.

Every process (daemon, `edged status`) opens the database through `open_db`, so WAL mode, the
busy timeout and the schema version are the same everywhere. Deciding *when* to write is the
Writer's job (`telemetry.writer`, the daemon's writer of telemetry); this module holds the SQL of
its one transaction per commit (`Batch`, `write`) and of pruning. The tables and why they are shaped
so are in `telemetry.schema`; raw samples' block format is `telemetry.samples`'.

What a commit costs the card is counted in pages: the bench (bench/bench_store.py) and
tests/telemetry/test_store.py's WAL-frame test keep it at a handful of 1 KiB pages per commit.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edged.readings import Record
from telemetry import exclusive, metrics_migration, stored_metrics
from telemetry.database import Database, transaction
from telemetry.rows import DeviceStateRow
from telemetry.samples import UPDATE_BLOCK_HINT, Block, read_samples
from telemetry.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "StoreError", "open_db", "read_samples", "transaction", "write"]

log = logging.getLogger(__name__)

PAGE_SIZE = 1024
"""Bytes per SQLite page, fixed when the first table is created. A commit appends 4-7 pages to
the WAL (page 1, the blocks tail leaf and its parent, records, outbox), so small pages write
less: bench/bench_store.py measured 1024 at or near the best of 512-4096 at every cadence."""

SYNCHRONOUS = "FULL"
"""WAL fsync'd at every commit, so a power cut loses at most the Writer's uncommitted batch
(<= commit_interval). NORMAL saves no bytes once the kernel writes dirty pages back (~30 s)."""

JOURNAL_MODE = "WAL"
"""Readers (the CLI, the report and roll-up children) never wait on the Writer's commits, and a
commit appends its pages to one file instead of writing each page twice. bench/bench_store.py
--journal weighs the rollback journals, which have no -shm, against it."""

VACUUM_FREE_PAGES = 256
"""After the v2 migration freed more pages than this (v1's samples), VACUUM once: reusing a long
freelist costs every later commit an extra page (the freelist trunk). Later migrations never
VACUUM: it needs free space about twice the database (v8's conversion is built not to)."""
VACUUM_ROOM = 2.2
"""Free space VACUUM needs, in database sizes: its temporary copy plus the WAL it writes."""


SMALL_CACHE_KIB = 256
"""Page cache of every connection (SQLite's default is 2 MB each). SQLite also sizes a sort's
in-memory run from it (the GROUP BY of the Writer's replay and prune, of the PV profile), so
with the default, a scan at start or in the hourly prune held up to 2 MB of cached pages and up
to 2 MB of sort buffer: RSS that grew with the history and stayed (bench/bench_memory.py). The
Writer's commits touch a few tail pages, which this holds many times over; and another
process's commit (the hourly roll-up, `edged alarms ack`) empties its cache anyway."""

SPILL_PAGES = 2000
"""`cache_spill` of a writable connection: a transaction's dirty pages may fill this many
pages before SQLite writes them to the WAL ahead of the commit, as they did with SQLite's
default 2 MB cache. A spilled page that the transaction changes again is written twice, so a
small cache alone would cost the SD card writes on large deletions (prune, acks); dirty pages
are never evicted early, and once committed the cache shrinks back to `SMALL_CACHE_KIB`."""


class StoreError(Exception):
    """The database cannot be opened, or its schema is not the one this edged reads."""


def open_db(path: str | Path, *, readonly: bool = False, migrate_schema: bool = True) -> Database:
    """Open (creating and migrating if needed) the database at `path`.

    `readonly` opens without creating or migrating. Beside a running daemon, which holds the
    file exclusively, the connection is a session through its door (`telemetry.exclusive`).
    Every connection keeps a small page cache (`SMALL_CACHE_KIB`). `migrate_schema=False`
    (the door's sessions: the daemon has migrated) only checks the schema's version.
    """
    path = Path(path)
    try:
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = exclusive.connect(path, readonly=readonly)  # in-process, through the door, direct
        local = isinstance(conn, sqlite3.Connection)  # else the daemon's session is set up
        if local:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute(f"PRAGMA cache_size = -{SMALL_CACHE_KIB}")
        db = Database(conn)
        if not readonly and local:
            # page_size only takes effect before the file has its first page; WAL fixes it.
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute(f"PRAGMA journal_mode = {JOURNAL_MODE}")
            conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
            conn.execute(f"PRAGMA cache_spill = {SPILL_PAGES}")
        if not readonly and local and migrate_schema:
            migrate(db)
        elif _check_version(db) < SCHEMA_VERSION:
            # Through a running daemon's door, its own upgrade has not run yet (a full card at
            # start): it runs again when storage does; otherwise nobody has started it.
            remedy = (
                "the running daemon upgrades it once its storage works (alarm storage_failed)"
                if not migrate_schema
                else "start the daemon once to upgrade it"
            )
            raise StoreError(
                f"database {str(path)!r} has schema v{_check_version(db)}, this edged reads"
                f" v{SCHEMA_VERSION}: {remedy}"
            )
        return db
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {str(path)!r}: {exc}") from exc


def _check_version(db: Database) -> int:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database schema v{version} is newer than this edged (v{SCHEMA_VERSION}):"
            " upgrade edged"
        )
    return version


def migrate(db: Database) -> None:
    """Apply the missing migrations, each in its own transaction with its version bump, then
    finish v8's conversion of stored records if one is under way (`telemetry.metrics_migration`:
    in bounded batches, resumed here after a crash)."""
    version = _check_version(db)
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        if isinstance(step, str):
            db.conn.executescript(f"BEGIN; {step}; PRAGMA user_version = {number}; COMMIT;")
            continue
        with transaction(db.conn):
            step(db.conn)
            db.conn.execute(f"PRAGMA user_version = {number}")
    metrics_migration.convert(db)
    # A new file is migrated from nothing too: the tables v1 made and v2 dropped leave free pages.
    worth = VACUUM_FREE_PAGES if version else 0
    if version < 2 and db.execute("PRAGMA freelist_count").fetchone()[0] > worth:
        vacuum_if_room(db.conn)


def vacuum_if_room(conn: sqlite3.Connection) -> bool:
    """VACUUM, unless the file system lacks room for the copy it writes (about the database's
    size, plus the WAL): a VACUUM that fills the card fails and leaves the disk full for the
    daemon. Skipping costs only the freelist page per commit until a later upgrade."""
    size = (
        conn.execute("PRAGMA page_count").fetchone()[0]
        * conn.execute("PRAGMA page_size").fetchone()[0]
    )
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    free = shutil.disk_usage(Path(path).parent).free if path else size * 2
    if free < size * VACUUM_ROOM:
        log.warning(
            "VACUUM skipped: %d bytes free, the database needs about %d", free, size * VACUUM_ROOM
        )
        return False
    conn.execute("VACUUM")
    return True


def quick_check(db: Database) -> str | None:
    """None when `PRAGMA quick_check` finds the file sound, else its first complaint.

    It reads every page (not whether indexes match their tables: that is integrity_check), so it
    costs a read of the file: bench/bench_salvage.py measures it (docs/architecture.md)."""
    first = db.execute("PRAGMA quick_check(1)").fetchone()[0]
    return None if first == "ok" else str(first)


# --- the Writer's batch: executed only on the Writer thread --------------------------------------


SEQ_RANGE = 4096
"""Seqs set aside for one device's block of one commit (`Batch.block_for`): 180 s at 1 Hz fill
180; a batch kept through failing commits opens a new block when one is full. Seqs are 64-bit:
a range per device per commit lasts millions of years."""


@dataclass(slots=True)
class Batch:
    """What one commit writes. Kept whole in memory when the commit fails, and retried."""

    blocks: list[Block] = field(default_factory=list)
    records: list[tuple[int, Record, int]] = field(default_factory=list)
    """(record id, record, last_seq) of the windows closed since the last commit."""
    states: dict[str, DeviceStateRow] = field(default_factory=dict)
    acks: set[int] = field(default_factory=set)
    rows: list[tuple[str, tuple]] = field(default_factory=list)
    """(kind of `ROW_SQL`, parameters), written in order: health rows, alarm changes, kv."""

    @property
    def sample_count(self) -> int:
        return sum(len(block.samples) for block in self.blocks)

    def empty(self) -> bool:
        return not (self.blocks or self.records or self.states or self.acks or self.rows)

    def block_for(self, device: str, ids: Ids) -> Block:
        """The block `device`'s next sample goes into: its newest one in the batch while its
        seq range has room, so a commit writes one block per device whatever the number of
        folds in between (a block per fold cost ~2.5x the bytes per sample); else a new one,
        its `SEQ_RANGE` seqs taken from `ids`."""
        for block in reversed(self.blocks):
            if block.device == device:
                if block.has_room():
                    return block
                break
        block = Block(device, ids.next_seq, [], ids.next_seq + SEQ_RANGE)
        ids.next_seq = block.end
        self.blocks.append(block)
        return block

    def drop_covered(self) -> int:
        """Drop from the blocks the samples a record of this batch covers (seq up to its
        `last_seq`), but each device's newest sample; returns how many went.

        What stays is what a restart needs: the samples of the windows still open (replayed
        at start, `telemetry.replay`) and the newest sample of each device (`edged status`
        with the daemon stopped). The records are the history; raw samples written only to
        be pruned a month later cost one VE.Direct device 291 against 248 B per sample
        (bench/bench_daemon.py, README "Figures").
        Covered samples are a prefix of each device's blocks: replay reads only the seqs
        after the newest record's `last_seq`.
        """
        covered: dict[str, int] = {}
        for _, record, last_seq in self.records:
            covered[record.device] = max(covered.get(record.device, 0), last_seq)
        newest = {block.device: block for block in self.blocks}
        dropped, kept = 0, []
        for block in self.blocks:
            cut = min(
                max(0, covered.get(block.device, 0) - block.first_seq + 1), len(block.samples)
            )
            if block is newest[block.device]:
                cut = min(cut, len(block.samples) - 1)
            if cut > 0:
                del block.samples[:cut]
                block.first_seq += cut
                dropped += cut
            if block.samples:
                kept.append(block)
        self.blocks = kept
        return dropped

    def bound(self, limit: int) -> int:
        """Drop the oldest samples and records beyond `limit` each; returns how many went."""
        dropped = excess = max(0, self.sample_count - limit)
        while excess:
            head = self.blocks[0]
            cut = min(excess, len(head.samples))
            del head.samples[:cut]
            head.first_seq += cut
            excess -= cut
            if not head.samples:
                self.blocks.pop(0)
        dropped += max(0, len(self.records) - limit)
        del self.records[: max(0, len(self.records) - limit)]
        del self.rows[: max(0, len(self.rows) - limit)]
        return dropped


@dataclass(slots=True)
class Ids:
    """Row ids the Writer hands out itself, so a retried batch keeps the same seqs and ids."""

    devices: dict[str, int]
    next_seq: int
    next_record_id: int

    @classmethod
    def load(cls, db: Database) -> Ids:
        one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
        # Samples may have been pruned past the newest record's last_seq: never reuse a seq.
        top_seq = max(
            one("SELECT coalesce(max(last_seq), 0) FROM sample_blocks"),
            one("SELECT coalesce(max(last_seq), 0) FROM records"),
        )
        return cls(
            devices={n: i for i, n in db.execute("SELECT id, name FROM devices")},
            next_seq=top_seq + 1,
            next_record_id=one("SELECT coalesce(max(id), 0) FROM records") + 1,
        )


Quarantine = Callable[[str, object, BaseException], None]
"""Called with (kind, parameters, error) for a row SQLite rejected and `write` skipped."""

ROW_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    OverflowError,
    TypeError,
    ValueError,
    KeyError,
)
"""What one bad row raises (a constraint, a wrong arity, a value SQLite cannot bind): a
statement-level error, so the transaction goes on without that row."""


def write(db: Database, batch: Batch, ids: Ids, quarantine: Quarantine | None = None) -> int:
    """Write `batch` in one transaction (all or nothing, but for rows SQLite rejects); returns
    how many outbox rows acked.

    The rows other components hand in (device states, `put_row`s) are written one by one: one
    that SQLite rejects is skipped and handed to `quarantine` (raised when it is None), so it
    can never block the batch and every later commit. Damage or a full disk fails it all.
    """
    conn, new_devices = db.conn, {}
    with transaction(conn):
        conn.executemany(
            "INSERT INTO sample_blocks VALUES (?, ?, ?, ?, ?, ?)",
            [b.row(_device_id(conn, b.device, ids.devices, new_devices)) for b in batch.blocks],
        )
        conn.executemany(
            "INSERT INTO records (id, device, ts, synced, samples, last_seq, metrics)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    rid,
                    r.device,
                    r.ts,
                    int(r.clock_synced),
                    r.samples,
                    last_seq,
                    stored_metrics.encode(r.metrics),
                )
                for rid, r, last_seq in batch.records
            ],
        )
        conn.executemany(  # a record the broker acknowledged before its commit needs no row
            "INSERT INTO outbox (record_id) VALUES (?)",
            [(rid,) for rid, *_ in batch.records if rid not in batch.acks],
        )
        for device, state in batch.states.items():
            if _guarded(conn, _UPSERT_STATE, state.params(), state.KIND, quarantine):
                conn.execute(UPDATE_BLOCK_HINT, (device,))
        acked = conn.executemany(
            "DELETE FROM outbox WHERE record_id = ?", [(i,) for i in batch.acks]
        ).rowcount
        for kind, params in batch.rows:
            _guarded(conn, ROW_SQL[kind], params, kind, quarantine)
    ids.devices.update(new_devices)
    return max(acked, 0)


def _guarded(
    conn: sqlite3.Connection, sql: str, params: tuple, kind: str, quarantine: Quarantine | None
) -> bool:
    """Execute `sql` with `params`; False (and `quarantine` told) when SQLite rejects them."""
    try:
        conn.execute(sql, params)
    except ROW_ERRORS as exc:
        if quarantine is None:
            raise
        quarantine(kind, params, exc)
        return False
    return True


ROW_SQL = {
    "health": "INSERT INTO health (component, ts, ok, vals) VALUES (?, ?, ?, ?)",
    "alarm_raised": "INSERT INTO alarms (alarm_id, rule, subject, severity, active, since,"
    " message, message_en, value) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
    "alarm_cleared": "UPDATE alarms SET active = 0, cleared = ? WHERE alarm_id = ? AND active = 1",
    # the push button (edged.indicators): every active alarm not yet acknowledged, in order
    # with the rows before it, so an alarm raised since the last commit is acknowledged too
    "alarms_acked": "UPDATE alarms SET acked_at = ?, acked_by = ?"
    " WHERE active = 1 AND acked_at IS NULL",
    "job_run": "INSERT INTO job_runs (job, kind, trigger, started, ended, duration_s, outcome,"
    " exit_code, reason, reason_en, output_tail, clock_synced)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "power_event": "INSERT INTO power_events (ts, kind, subject, action, code, message,"
    " message_en) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "kv": "INSERT INTO kv (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
}
"""The small rows other components hand the Writer (`Writer.put_row`), by kind."""

_UPSERT_STATE = """
    INSERT INTO device_state (device, state, last_seen, info, counters, changed)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (device) DO UPDATE SET
        changed = CASE WHEN state = excluded.state THEN changed ELSE excluded.changed END,
        state = excluded.state, last_seen = excluded.last_seen, info = excluded.info,
        counters = excluded.counters
"""


def _device_id(conn: sqlite3.Connection, name: str, known: dict, new: dict) -> int:
    """Id of device `name`, inserting it (remembered by the caller only after COMMIT)."""
    if name in known:
        return known[name]
    if name not in new:
        new[name] = conn.execute("INSERT INTO devices (name) VALUES (?)", (name,)).lastrowid
    return new[name]


def with_id(record: Record, rid: int) -> Record:
    return dataclasses.replace(record, id=rid)
