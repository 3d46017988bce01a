"""The SQLite database on the SD card: connection settings and schema migrations.

Every process (daemon, `edged status`) opens the database through `open_db`, so WAL mode, the
busy timeout and the schema version are the same everywhere. Deciding *when* to write is the
Writer's job (`telemetry.writer`, the only writer); this module holds the SQL: the schema, the
readers, and the statements of the Writer's one-transaction batch (`Batch`, `write`, `prune`).

Schema, and why:
- `samples`: every accepted reading, compact (values as a JSON list against a shared `layouts`
  row of metric names) because there is one per device per second and the SD card pays per byte.
- `records`: one row per device per publish window (the aggregate that is published). `last_seq`
  is the newest sample folded into it, so a restart can rebuild the window it was in.
- `outbox`: ids of records not yet acknowledged by the broker; a row is deleted only after PUBACK.
- `device_state`: what the runners last concluded (ok/stale/offline), for `edged status`.
- `events`: counted, logged events (bad frames summary, dropped samples, clock jumps...).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import sqlite_utils

from edged.readings import Record, Sample

MIGRATIONS: list[str] = [
    # v1
    """
    CREATE TABLE devices (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE layouts (id INTEGER PRIMARY KEY, names TEXT NOT NULL UNIQUE);
    CREATE TABLE samples (
        seq INTEGER PRIMARY KEY, device_id INTEGER NOT NULL, ts REAL NOT NULL,
        synced INTEGER NOT NULL, layout_id INTEGER NOT NULL, vals TEXT NOT NULL);
    CREATE TABLE records (
        id INTEGER PRIMARY KEY, device TEXT NOT NULL, ts REAL NOT NULL,
        synced INTEGER NOT NULL, samples INTEGER NOT NULL, last_seq INTEGER NOT NULL,
        metrics TEXT NOT NULL);
    CREATE INDEX records_device_ts ON records(device, ts);
    CREATE TABLE outbox (record_id INTEGER PRIMARY KEY);
    CREATE TABLE device_state (
        device TEXT PRIMARY KEY, state TEXT NOT NULL, last_seen REAL, info TEXT NOT NULL,
        counters TEXT NOT NULL, changed REAL NOT NULL);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
        message TEXT NOT NULL);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

PAGE_SIZE = 1024
"""Bytes per SQLite page, fixed when the first table is created. Each commit rewrites whole pages
(the samples tail leaf, its parent, page 1, records, outbox, state), so small pages write less:
bench/bench_store.py at a 30 s cadence measured 536 B/sample with 1024 against 919 with 4096."""

SYNCHRONOUS = "FULL"
"""WAL fsync'd at every commit, so a power cut loses at most the Writer's uncommitted batch
(<= commit_interval). NORMAL saves no bytes once the kernel writes dirty pages back (~30 s)."""


class StoreError(Exception):
    """The database cannot be opened or is newer than this edged understands."""


def open_db(path: str | Path, *, readonly: bool = False) -> sqlite_utils.Database:
    """Open (creating and migrating if needed) the database at `path`.

    `readonly` opens without creating or migrating, for `edged status` beside a running daemon.
    """
    path = Path(path)
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        db = sqlite_utils.Database(conn)
        if not readonly:
            # page_size only takes effect before the file has its first page; WAL fixes it.
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
            migrate(db)
        else:
            _check_version(db)
        return db
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {str(path)!r}: {exc}") from exc


def _check_version(db: sqlite_utils.Database) -> int:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database schema v{version} is newer than this edged (v{SCHEMA_VERSION}):"
            " upgrade edged"
        )
    return version


def migrate(db: sqlite_utils.Database) -> None:
    """Apply the missing migrations, each in its own transaction with its version bump."""
    version = _check_version(db)
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        with db.conn:
            db.conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")


def record_from_row(row: sqlite3.Row | tuple) -> Record:
    """Build a `Record` from `SELECT id, device, ts, synced, samples, metrics FROM records`."""
    rid, device, ts, synced, samples, metrics = row
    return Record(device, ts, bool(synced), samples, json.loads(metrics), id=rid)


RECORD_COLUMNS = (
    "records.id, records.device, records.ts, records.synced, records.samples, records.metrics"
)


def read_samples(
    db: sqlite_utils.Database,
    *,
    device: str | None = None,
    after_seq: int = 0,
    newest_first: bool = False,
    limit: int = -1,
) -> list[tuple[int, Sample]]:
    """Stored samples as `(seq, Sample)`, in seq order (or newest first), decoded from layouts."""
    sql = (
        "SELECT samples.seq, devices.name, samples.ts, samples.synced, layouts.names, samples.vals"
        " FROM samples JOIN devices ON devices.id = samples.device_id"
        " JOIN layouts ON layouts.id = samples.layout_id WHERE samples.seq > ?"
    )
    params: list = [after_seq]
    if device is not None:
        sql += " AND devices.name = ?"
        params.append(device)
    sql += f" ORDER BY samples.seq {'DESC' if newest_first else 'ASC'} LIMIT ?"
    params.append(limit)
    return [
        (
            seq,
            Sample(
                name, ts, bool(synced), dict(zip(json.loads(names), json.loads(vals), strict=True))
            ),
        )
        for seq, name, ts, synced, names, vals in db.execute(sql, params).fetchall()
    ]


# --- the Writer's batch: executed only on the Writer thread --------------------------------------


class SampleRow(NamedTuple):
    """A sample encoded for the `samples` table (its metric names become a `layouts` row)."""

    seq: int
    device: str
    ts: float
    synced: int
    names: str
    vals: str


def encode_sample(sample: Sample, seq: int) -> SampleRow | None:
    """Encode compactly; None when a value cannot be stored (a driver bug must not stop commits)."""
    try:
        names = json.dumps(list(sample.metrics), separators=(",", ":"))
        vals = json.dumps(list(sample.metrics.values()), separators=(",", ":"))
        return SampleRow(
            seq, str(sample.device), float(sample.ts), int(bool(sample.clock_synced)), names, vals
        )
    except (TypeError, ValueError):
        return None


@dataclass(slots=True)
class Batch:
    """What one commit writes. Kept whole in memory when the commit fails, and retried."""

    samples: list[SampleRow] = field(default_factory=list)
    records: list[tuple[int, Record, int]] = field(default_factory=list)
    """(record id, record, last_seq) of the windows closed since the last commit."""
    states: dict[str, dict] = field(default_factory=dict)
    acks: set[int] = field(default_factory=set)

    def empty(self) -> bool:
        return not (self.samples or self.records or self.states or self.acks)

    def bound(self, limit: int) -> int:
        """Drop the oldest samples and records beyond `limit` each; returns how many went."""
        dropped = max(0, len(self.samples) - limit) + max(0, len(self.records) - limit)
        del self.samples[: max(0, len(self.samples) - limit)]
        del self.records[: max(0, len(self.records) - limit)]
        return dropped


@dataclass(slots=True)
class Ids:
    """Row ids the Writer hands out itself, so a retried batch keeps the same seqs and ids."""

    devices: dict[str, int]
    layouts: dict[str, int]
    next_seq: int
    next_record_id: int

    @classmethod
    def load(cls, db: sqlite_utils.Database) -> Ids:
        one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
        # Samples may have been pruned past the newest record's last_seq: never reuse a seq.
        top_seq = max(one("SELECT coalesce(max(seq), 0) FROM samples"),
                      one("SELECT coalesce(max(last_seq), 0) FROM records"))  # fmt: skip
        return cls(
            devices={n: i for i, n in db.execute("SELECT id, name FROM devices")},
            layouts={n: i for i, n in db.execute("SELECT id, names FROM layouts")},
            next_seq=top_seq + 1,
            next_record_id=one("SELECT coalesce(max(id), 0) FROM records") + 1,
        )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (also when COMMIT itself fails)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def write(db: sqlite_utils.Database, batch: Batch, ids: Ids) -> int:
    """Write `batch` in one transaction (all or nothing); returns how many outbox rows acked."""
    conn, new_devices, new_layouts = db.conn, {}, {}
    with transaction(conn):
        rows = [
            (s.seq, _intern(conn, "devices", "name", s.device, ids.devices, new_devices), s.ts,
             s.synced, _intern(conn, "layouts", "names", s.names, ids.layouts, new_layouts), s.vals)
            for s in batch.samples
        ]  # fmt: skip
        conn.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.executemany(
            "INSERT INTO records (id, device, ts, synced, samples, last_seq, metrics)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(rid, r.device, r.ts, int(r.clock_synced), r.samples, last_seq, _json(r.metrics))
             for rid, r, last_seq in batch.records],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO outbox (record_id) VALUES (?)", [(rid,) for rid, *_ in batch.records]
        )
        conn.executemany(_UPSERT_STATE, [_state_row(d, s) for d, s in batch.states.items()])
        acked = conn.executemany(
            "DELETE FROM outbox WHERE record_id = ?", [(i,) for i in batch.acks]
        ).rowcount
    ids.devices.update(new_devices)
    ids.layouts.update(new_layouts)
    return max(acked, 0)


_UPSERT_STATE = """
    INSERT INTO device_state (device, state, last_seen, info, counters, changed)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (device) DO UPDATE SET
        changed = CASE WHEN state = excluded.state THEN changed ELSE excluded.changed END,
        state = excluded.state, last_seen = excluded.last_seen, info = excluded.info,
        counters = excluded.counters
"""


def _state_row(device: str, state: dict) -> tuple:
    info, counters = _json(state.get("info", {})), _json(state.get("counters", {}))
    return (device, str(state.get("state", "unknown")), state.get("last_seen"), info, counters,
            state["changed"])  # fmt: skip


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _intern(conn, table: str, column: str, value: str, known: dict, new: dict) -> int:
    """Id of `value` in a small lookup table, inserting it (remembered only after COMMIT)."""
    if value in known:
        return known[value]
    if value not in new:
        new[value] = conn.execute(f"INSERT INTO {table} ({column}) VALUES (?)", (value,)).lastrowid
    return new[value]


def with_id(record: Record, rid: int) -> Record:
    return dataclasses.replace(record, id=rid)


def covered_seqs(db: sqlite_utils.Database) -> dict[str, int]:
    """Per device, the newest sample seq some record covers (samples after it are in no record)."""
    return dict(db.execute("SELECT device, max(last_seq) FROM records GROUP BY device").fetchall())


def prune(db: sqlite_utils.Database, samples_before: float, records_before: float | None,
          batch: int = 5000) -> int:  # fmt: skip
    """Delete old rows in short transactions; returns how many.

    Never deleted: samples no record covers yet (an open window, replayed at start), records
    still in the outbox, and each device's newest record (it says what is covered).
    """
    covered = covered_seqs(db)
    total = 0
    for name, device_id in db.execute("SELECT name, id FROM devices").fetchall():
        total += _delete_in_batches(db.conn, (
            "DELETE FROM samples WHERE seq IN (SELECT seq FROM samples"
            " WHERE seq <= ? AND device_id = ? AND ts < ? LIMIT ?)"
        ), (covered.get(name, 0), device_id, samples_before, batch))  # fmt: skip
    if records_before is not None:
        total += _delete_in_batches(db.conn, (
            "DELETE FROM records WHERE id IN (SELECT id FROM records WHERE ts < ?"
            " AND id NOT IN (SELECT record_id FROM outbox)"
            " AND id NOT IN (SELECT max(id) FROM records GROUP BY device) LIMIT ?)"
        ), (records_before, batch))  # fmt: skip
    return total


def _delete_in_batches(conn: sqlite3.Connection, sql: str, params: tuple) -> int:
    total, limit = 0, params[-1]
    while True:
        with transaction(conn):
            n = conn.execute(sql, params).rowcount
        total += n
        if n < limit:
            return total
