"""The publisher's read side of the store under faults, against the real daemon and mosquitto.

The publisher reads the outbox on a connection of its own. A full disk at start must not leave
the backlog of an earlier run unsent until a restart, and a database the Writer replaces while
running (damaged) must be followed: the records committed into the new file go out from it.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import time
from pathlib import Path

from edged.readings import Record
from telemetry import exclusive, salvage, store
from tests.peers.daemon import db_rows
from tests.peers.replay import wait_until
from tests.telemetry import test_faults_store as store_faults

Site = store_faults.Site
small_fs = store_faults.small_fs  # the fixture: a 2 MB tmpfs, skipped where mount is refused
PREFIX = store_faults.PREFIX
OLD = 1_699_999_980.0


def history_ts(site: store_faults.Site, device: str) -> set[float]:
    topic = f"{PREFIX}/test-site/history/{device}"
    found = set()
    for message in site.sub.received(lambda m: m.topic == topic):
        payload = message.payload
        if payload[:2] == b"\x1f\x8b":
            payload = gzip.decompress(payload)
        found.update(s["ts"] for s in json.loads(payload)["samples"])
    return found


def earlier_backlog(db: Path, device: str, n: int) -> set[float]:
    """`n` records an earlier run stored and never sent (all in the outbox)."""
    conn = store.open_db(db)
    records = [
        (i, Record(device, OLD + 60 * i, True, 60, {"battery_voltage": 12.5}), 0)
        for i in range(1, n + 1)
    ]
    store.write(conn, store.Batch(records=records), store.Ids.load(conn))
    conn.close()
    return {r.ts for _, r, _ in records}


def test_full_disk_at_start_the_earlier_backlog_goes_out_once_space_returns(
    small_fs, tmp_path, broker, daemons
):
    site = Site(tmp_path, broker, db=small_fs / "edged.db", seed=4)
    try:
        backlog = earlier_backlog(site.db, "bmv-old", 40)
        filler = store_faults.fill(small_fs)
        daemon = daemons(site.config)
        wait_until(lambda: len(site.live_ts()) >= 3, 60, what="live telemetry with a full disk")
        wait_until(lambda: site.alarm("storage_failed"), 90, what="storage_failed")
        filler.unlink()
        wait_until(lambda: backlog <= history_ts(site, "bmv-old"), 180, what="the backlog sent")
        assert daemon.proc.poll() is None, daemon.logs()[-3000:]
    finally:
        site.stop()


def damage_while_stopped(pid: int, db: Path, table: str, attempts: int = 50) -> None:
    """Garbage over `table`'s root page of a running daemon's database, which only it may open.

    Through its door: a commit (every other connection of the daemon drops its cached pages at
    its next transaction) and a checkpoint that empties the WAL into the file. Then, the daemon
    stopped (SIGSTOP) and its WAL still empty (no frame shadows the page), the page is
    overwritten in the file; a second commit through the door once it runs again drops what a
    read in between cached. The Writer's next insert into `table` reads the garbage."""
    wal = Path(f"{db}-wal")
    for _ in range(attempts):
        root, size, busy = _checkpointed(db, table)
        if not busy:
            os.kill(pid, signal.SIGSTOP)
            try:
                empty = not wal.exists() or wal.stat().st_size == 0
                if empty:
                    with db.open("r+b") as f:
                        f.seek((root - 1) * size)
                        f.write(b"\xa5" * size)
            finally:
                os.kill(pid, signal.SIGCONT)
            if empty:
                _checkpointed(db, table)  # a commit: every connection's cache dropped
                return
        time.sleep(0.2)
    raise AssertionError(f"the checkpoint stayed blocked in {attempts} attempts")


def _checkpointed(db: Path, table: str) -> tuple[int, int, int]:
    """(root page of `table`, page size, checkpoint busy) after a commit and a TRUNCATE
    checkpoint through the daemon's door; busy while one of its readers holds the WAL."""
    conn = exclusive.connect(db, readonly=False)
    try:
        conn.execute("INSERT OR REPLACE INTO kv VALUES ('poke', ?)", (str(time.time()),))
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        sql = "SELECT rootpage FROM sqlite_master WHERE name = ?"
        (root,) = conn.execute(sql, (table,)).fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    finally:
        conn.close()
    return root, size, busy


def outbox_ts(db: Path) -> set[float]:
    sql = "SELECT ts FROM records JOIN outbox ON outbox.record_id = records.id"
    return {ts for (ts,) in db_rows(db, sql + " WHERE device = 'mppt'")}


def test_a_database_replaced_while_running_is_followed_by_the_publisher(tmp_path, broker, daemons):
    site = Site(tmp_path, broker, seed=5)
    try:
        daemon = daemons(site.config)
        wait_until(lambda: len(site.live_ts()) >= 3, 60, what="live telemetry")
        broker.stop()  # what the daemon stores from now on waits in the outbox
        wait_until(lambda: len(outbox_ts(site.db)) >= 2, 60, what="records in the outbox")
        damage_while_stopped(daemon.proc.pid, site.db, "sample_blocks")
        wait_until(lambda: salvage.damaged_copies(site.db), 60, what="the file replaced")
        after = wait_until(lambda: len(outbox_ts(site.db)) >= 3 and outbox_ts(site.db), 60)
        broker.start()
        wait_until(lambda: after <= history_ts(site, "mppt"), 120, what="the new file's outbox")
        assert daemon.proc.poll() is None, daemon.logs()[-3000:]
        logs = daemon.logs()
        assert "moved aside to edged.db.damaged-" in logs and "was replaced" in logs
    finally:
        site.stop()
