"""SQLite's own memory on the daemon's connections stays bounded whatever the history holds.

What the Writer runs at start (`quick_check`, `Ids.load`, the replay's `GROUP BY device`), its
hourly prune, and the PV profile on its read-only connection all scan the whole `records`
table. SQLite's memory (page cache, sort buffers) is not Python's: tracemalloc cannot see it,
so it is read from SQLite's own counter (`sqlite3_status64(SQLITE_STATUS_MEMORY_USED)`, through
ctypes on the library the `sqlite3` module is linked to). With SQLite's default 2 MB cache the
same scans took ~4 MB on the larger history (bench/bench_memory.py saw it in the daemon's RSS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import sqlite3
import time

import pytest

from telemetry import pruning, pv_hours, replay, store
from telemetry.windows import WindowAggregator

SQLITE_STATUS_MEMORY_USED = 0
BOUND = 1_200_000
"""Bytes SQLite may add while scanning: the 256 KiB page cache, a 256 KiB sort run, a few
sort readers and statements. The default cache alone is 2 MB."""


def _libsqlite() -> ctypes.CDLL:
    name = ctypes.util.find_library("sqlite3")
    lib = ctypes.CDLL(name) if name else None
    if lib is None or lib.sqlite3_libversion_number() != sqlite3.sqlite_version_info[
        0
    ] * 1_000_000 + (sqlite3.sqlite_version_info[1] * 1000 + sqlite3.sqlite_version_info[2]):
        pytest.skip("the sqlite3 module is not linked to the system's libsqlite3")
    return lib


def _peak_added(lib: ctypes.CDLL, work) -> int:
    """SQLite's peak memory during `work()`, above what it held when `work` began."""
    cur, high = ctypes.c_int64(), ctypes.c_int64()
    lib.sqlite3_status64(SQLITE_STATUS_MEMORY_USED, ctypes.byref(cur), ctypes.byref(high), 1)
    before = cur.value
    work()
    lib.sqlite3_status64(SQLITE_STATUS_MEMORY_USED, ctypes.byref(cur), ctypes.byref(high), 1)
    return high.value - before


def _history(path, records: int) -> None:
    """`records` 1-s windows of two devices ending now, all in the outbox (a backlog)."""
    db = store.open_db(path)
    now = time.time()
    metrics = json.dumps({"pv_power": 412.5, "pv_voltage": 61.2, "battery_voltage": 26.1})
    db.conn.execute("BEGIN")
    db.conn.executemany(
        "INSERT INTO records (id, device, ts, synced, samples, last_seq, metrics)"
        " VALUES (?, ?, ?, 1, 1, 0, ?)",
        ((i, ("mppt", "bmv")[i % 2], now - records + i, metrics) for i in range(1, records + 1)),
    )
    db.conn.execute("INSERT INTO outbox (record_id) SELECT id FROM records")
    db.conn.execute("COMMIT")
    db.close()


def _start_and_prune(path) -> None:
    """The Writer's start-up reads and its hourly prune, then the PV profile of 7 days."""
    db = store.open_db(path)
    try:
        assert store.quick_check(db) is None
        store.Ids.load(db)
        replay.replay(db, WindowAggregator(1.0, 2.0), ["mppt", "bmv"], True, 180.0)
        pruning.prune(db, time.time() - 86400, time.time() - 86400)
    finally:
        db.close()
    reader = store.open_db(path, readonly=True)
    try:
        means = [m for m in pv_hours.hourly_means(reader, time.time(), 7.0).means if m is not None]
        assert means and all(m == pytest.approx(412.5) for m in means)  # one device a window
    finally:
        reader.close()


@pytest.mark.parametrize("records", [20_000, 200_000])
def test_sqlite_memory_of_the_scans_stays_bounded_for_ten_times_the_history(tmp_path, records):
    lib = _libsqlite()
    _history(tmp_path / "edged.db", records)
    added = _peak_added(lib, lambda: _start_and_prune(tmp_path / "edged.db"))
    assert added < BOUND, f"SQLite took {added} B over {records} records"
