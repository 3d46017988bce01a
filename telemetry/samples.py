"""Raw samples on the SD card: one compressed block per device per commit (schema v2).

Why blocks: the card pays per 4 KiB page rewritten, not per byte. A row per sample touched the
samples tail leaf, its parent and page 1 for every few samples; a block of a whole commit's
samples (a few hundred bytes once compressed) appends one row, so a commit touches about three
pages for its samples whatever the cadence (bench/bench_store.py has the figures).

Block row: `sample_blocks(first_seq PK, last_seq, device_id, ts_min, ts_max, data)`. The Writer
numbers each device's samples of one commit contiguously, so a block holds exactly the seqs
`first_seq..last_seq` and, per device, seq order is row order. It folds samples into their
windows every second but writes once per commit, so it sets a range of seqs aside for each
device's block when its first sample of a commit arrives (`Block.end`) and fills it as samples
come: the unused rest of a range is a gap in the seqs, which nothing needs dense.
`data` is, in format 2 (written since schema v8), the byte 0x02 then raw deflate, against the
preset dictionary of stored records (`telemetry.stored_metrics.ZDICT`), of compact JSON
`{"t": [ms, +dms, ...], "s": [synced 0/1, ...], "m": {code: [value | null, ...]}}`, metrics
keyed as records' are (the contract's short codes); format 1 (read still) was zlib of
`{"v": 1, "t": ..., "s": ..., "m": {name: [...]}}`. `null` marks a metric that sample lacked (a
metric value is never None, see `storable`).

Timestamps are kept to the millisecond. `storable` returns the sample as it will read back, and
the Writer folds *that* into its windows, so live aggregation and replay after a restart agree.

Must not: decide when to write (the Writer), or know about records and the outbox (`store`).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from edged.readings import Sample
from telemetry import stored_metrics
from telemetry.database import Database

log = logging.getLogger(__name__)

FORMAT = 2
_FORMAT_2 = bytes([FORMAT])
UNREADABLE = (zlib.error, ValueError, KeyError, TypeError, AttributeError, IndexError)
"""What `decode` raises on a block whose bytes are not what `encode` wrote."""
_VALUE_TYPES = (int, float, str)


def storable(sample: Sample) -> Sample | None:
    """`sample` exactly as it will read back (ts to the ms), or None when it cannot be stored.

    A driver bug (a None, an object, a non-finite time) must not stop commits: it is refused here.
    """
    try:
        ts = round(float(sample.ts) * 1000) / 1000
        metrics = dict(sample.metrics)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(ts) or not all(
        isinstance(k, str) and isinstance(v, _VALUE_TYPES) for k, v in metrics.items()
    ):
        return None
    return Sample(str(sample.device), ts, bool(sample.clock_synced), metrics)


def encode(samples: Sequence[Sample]) -> bytes:
    """Compress `storable` samples of one device into a block's `data`."""
    ms = [round(s.ts * 1000) for s in samples]
    names = dict.fromkeys(name for s in samples for name in s.metrics)
    doc = {
        "t": ms[:1] + [b - a for a, b in itertools.pairwise(ms)],
        "s": [int(s.clock_synced) for s in samples],
        "m": {stored_metrics.key_of(n): [s.metrics.get(n) for s in samples] for n in names},
    }
    return _FORMAT_2 + stored_metrics.deflate(json.dumps(doc, separators=(",", ":")).encode())


def decode(data: bytes, device: str, first_seq: int) -> list[tuple[int, Sample]]:
    """The `(seq, Sample)` pairs of one block, in seq order."""
    if data[:1] == _FORMAT_2:
        doc = json.loads(stored_metrics.inflate(data[1:]))
        doc["m"] = {stored_metrics.name_of(key): column for key, column in doc["m"].items()}
    else:
        doc = json.loads(zlib.decompress(data))
        if doc.get("v") != 1:
            raise ValueError(f"unknown sample block format {doc.get('v')!r}")
    columns = doc["m"].items()
    times = itertools.accumulate(doc["t"])
    return [
        (first_seq + i, Sample(device, ms / 1000, bool(synced), _row(columns, i)))
        for i, (ms, synced) in enumerate(zip(times, doc["s"], strict=True))
    ]


def _row(columns, i: int) -> dict:
    return {name: col[i] for name, col in columns if col[i] is not None}


@dataclass(slots=True)
class Block:
    """One device's samples of one commit, numbered `first_seq`, `first_seq + 1`, ..."""

    device: str
    first_seq: int
    samples: list[Sample]
    end: int = 0
    """First seq past the range set aside for this block (0: exactly its samples)."""

    def has_room(self) -> bool:
        return self.last_seq + 1 < self.end

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.samples) - 1

    def row(self, device_id: int) -> tuple:
        """Values for `INSERT INTO sample_blocks VALUES (?, ?, ?, ?, ?, ?)`."""
        times = [s.ts for s in self.samples]
        return (
            self.first_seq,
            self.last_seq,
            device_id,
            min(times),
            max(times),
            encode(self.samples),
        )


def read_samples(
    db: Database,
    *,
    device: str | None = None,
    after_seq: int = 0,
    newest_first: bool = False,
    limit: int = -1,
) -> list[tuple[int, Sample]]:
    """Stored samples as `(seq, Sample)` with seq > `after_seq`, in seq order (or newest first).

    Reads only the blocks from the one holding `after_seq + 1` on (a rowid range).
    """
    found = _iter_samples(db.conn, device, after_seq, newest_first)
    return list(found if limit < 0 else itertools.islice(found, limit))


def _iter_samples(
    conn: sqlite3.Connection, device: str | None, after_seq: int, newest_first: bool
) -> Iterator[tuple[int, Sample]]:
    sql = (
        "SELECT b.first_seq, d.name, b.data FROM sample_blocks AS b"
        " JOIN devices AS d ON d.id = b.device_id WHERE b.first_seq >= (SELECT"
        " coalesce(max(first_seq), 0) FROM sample_blocks WHERE first_seq <= ?) AND b.last_seq > ?"
    )
    params: list = [after_seq + 1, after_seq]
    if device is not None:
        sql += " AND b.device_id = (SELECT id FROM devices WHERE name = ?)"
        params.append(device)
    sql += f" ORDER BY b.first_seq {'DESC' if newest_first else 'ASC'}"
    for first_seq, name, data in conn.execute(sql, params):  # lazily: a limit stops early
        try:
            decoded = decode(data, name, first_seq)
        except UNREADABLE as exc:  # damage inside a blob that SQLite reads back as "valid"
            log.warning("sample block %d of %r unreadable, skipped: %r", first_seq, name, exc)
            continue
        pairs = [p for p in decoded if p[0] > after_seq]
        yield from reversed(pairs) if newest_first else pairs


def latest(db: Database, device: str) -> tuple[int, Sample] | None:
    """The newest stored sample of `device`, or None.

    Scans blocks backwards only down to the device's `device_state.block` hint (its newest block
    when its state was last written), so a long-dead device costs no full-table scan.
    """
    row = db.execute("SELECT block FROM device_state WHERE device = ?", [device]).fetchone()
    floor = row[0] if row and row[0] is not None else 1
    found = read_samples(db, device=device, after_seq=floor - 1, newest_first=True, limit=1)
    return found[0] if found else None


UPDATE_BLOCK_HINT = """
    UPDATE device_state SET block = coalesce(
        (SELECT max(first_seq) FROM sample_blocks WHERE first_seq >= coalesce(device_state.block, 0)
         AND device_id = (SELECT id FROM devices WHERE name = device_state.device)),
        (SELECT coalesce(max(first_seq), 0) FROM sample_blocks))
    WHERE device = ?
"""
"""Move a device's hint to its newest block, or to the table's end when it has none since the
last hint (so the next lookup scans nothing older). Runs in the Writer's transaction."""
