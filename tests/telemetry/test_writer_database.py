"""The Writer's database file (`telemetry.writer_database`, `telemetry.lock`): damage found while
running, a power cut during a salvage, one Writer per file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from telemetry import salvage, store
from telemetry.lock import DatabaseBusy
from telemetry.writer import Writer
from tests.telemetry.damage import overwrite_page
from tests.telemetry.writers import T0, mppt_voltage


def test_damage_while_running_replaces_the_file_and_keeps_the_batch(tmp_path):
    path = tmp_path / "edged.db"
    got = []
    w = Writer(path, publish_interval=60.0, commit_interval=3600.0, on_records=got.extend)
    w.start()
    try:
        for i in range(0, 130):
            w.put(mppt_voltage(T0 + i))
        assert w.flush()
        # another connection's commit makes the Writer drop its page cache; after the
        # checkpoint the outbox page is read from the file, where it is now garbage
        other = sqlite3.connect(path)
        other.execute("INSERT INTO kv VALUES ('poke', '1')")
        other.commit()
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        other.close()
        overwrite_page("outbox")(path)
        for i in range(130, 200):
            w.put(mppt_voltage(T0 + i))
        assert w.flush() is True
        assert len(salvage.damaged_copies(path)) == 1
        assert w.recovered is not None and w.recovered.copied["records"] == 2
        assert w.storage_health() == {"failing": False, "damaged_copies": 1}
        stored = w.call(lambda db: list(store.read_samples(db)))
        assert [s.ts for _, s in stored] == [T0 + i for i in range(200)]  # salvaged + batch
        assert [seq for seq, _ in stored] == sorted({seq for seq, _ in stored})  # none reused
        assert [r.ts for r in got] == [T0 - 10 + 60 * k for k in range(3)]
        assert w.stats["recoveries"] == 1 and w.stats["commit_failures"] == 0
    finally:
        w.stop()


SLOW_SALVAGE = """
import sys, time
from telemetry import salvage
copy = salvage._copy_all
def slow(source, fresh):
    print("salvaging", flush=True)
    time.sleep(60)  # a slow SD card: the power is cut before the salvage ends
    return copy(source, fresh)
salvage._copy_all = slow
from telemetry.writer import Writer
Writer(sys.argv[1], publish_interval=60.0, commit_interval=3600.0)
"""


def test_a_cut_during_a_salvage_leaves_the_damaged_file_to_salvage_again(tmp_path):
    path = tmp_path / "edged.db"
    w = Writer(path, publish_interval=60.0, commit_interval=3600.0)
    w.start()
    for i in range(0, 200):
        w.put(mppt_voltage(T0 + i))
    assert w.flush()
    w.stop()
    overwrite_page("sample_blocks")(path)
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_SALVAGE, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "salvaging"
    finally:
        child.kill()
        child.wait(10)
    assert salvage.damaged_copies(path) == []  # the damaged file is still where it was
    w = Writer(path, publish_interval=60.0, commit_interval=3600.0)
    w.start()
    try:
        assert w.recovered is not None and w.recovered.copied.get("records") == 3
        assert len(salvage.damaged_copies(path)) == 1
        assert not path.with_name("edged.db.salvage").exists()
    finally:
        w.stop()


def test_writer_lock_refuses_a_second_writer_on_one_database(tmp_path):
    w = Writer(tmp_path / "edged.db", publish_interval=60.0, commit_interval=3600.0)
    w.start()
    try:
        with pytest.raises(DatabaseBusy) as busy:
            Writer(tmp_path / "edged.db", publish_interval=60.0, commit_interval=3600.0)
        assert busy.value.pid == os.getpid()
        (tmp_path / "alias.db").symlink_to(tmp_path / "edged.db")
        with pytest.raises(DatabaseBusy):  # the same file by another name
            Writer(tmp_path / "alias.db", publish_interval=60.0, commit_interval=3600.0)
    finally:
        w.stop()
    Writer(tmp_path / "edged.db", publish_interval=60.0, commit_interval=3600.0).stop()
