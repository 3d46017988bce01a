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
import sqlite3
import time
from pathlib import Path

from edged.readings import Record
from telemetry import salvage, store
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
    """`damage_root_page` with the daemon stopped (SIGSTOP), so that no checkpoint races it.
    Stopped while its publisher holds a read transaction, the daemon blocks the checkpoint: let
    it run a moment and stop it again."""
    for _ in range(attempts):
        os.kill(pid, signal.SIGSTOP)
        try:
            if damage_root_page(db, table):
                return
        finally:
            os.kill(pid, signal.SIGCONT)
        time.sleep(0.2)
    raise AssertionError(f"the checkpoint stayed blocked in {attempts} attempts")


def damage_root_page(db: Path, table: str) -> bool:
    """Garbage over `table`'s root page, in the file, with the WAL checkpointed into it first:
    a running Writer's next insert into `table` reads it (its cache is dropped, since another
    connection committed). False, and nothing written, while the daemon's connections block
    the checkpoint."""
    conn = sqlite3.connect(db, timeout=1.0)
    try:
        conn.execute("INSERT OR REPLACE INTO kv VALUES ('poke', '1')")
        conn.commit()
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError as exc:  # stopped inside the Writer's transaction
        conn.close()
        if "locked" in str(exc):
            return False
        raise
    if busy:
        conn.close()
        return False  # a reader holds the WAL: garbage written now could be checkpointed over
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with db.open("r+b") as f:
        f.seek((root - 1) * size)
        f.write(b"\xa5" * size)
    return True


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
