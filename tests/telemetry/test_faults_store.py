"""Fault injection on the store: damaged files, a full disk, rejected rows, two daemons.

The daemon tests run the real `edged run` with a VE.Direct controller emulated on a pty and a
real mosquitto: the damage is done with the daemon stopped, then it must come up, publish live,
raise the alarm, keep the damaged file aside and store again. The full-disk tests mount a small
tmpfs (skipped, saying why, where mounting is not permitted).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import pytest

from drivers.victron.vedirect.emulator import PtyEmulator
from edged.readings import DeviceState, Liveness, Sample
from telemetry import outbox, salvage, store, stored_metrics
from telemetry.lock import DatabaseBusy
from telemetry.rows import AlarmCleared, HealthRow, KvRow
from telemetry.writer import Writer
from tests.peers.daemon import DaemonProcess, db_rows, write_config
from tests.peers.replay import wait_until
from tests.peers.subscriber import Subscriber

PREFIX = "faults"
T0 = 1_699_999_990.0


def device_toml(port: Path) -> str:
    return f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{port}"\ninterval = 0.2\n'


class Site:
    """An emulated controller, a subscriber and a config whose database is at `db`."""

    def __init__(self, workdir: Path, broker, db: Path | None = None, seed: int = 1) -> None:
        self.emulator = PtyEmulator("mppt", link=str(workdir / "tty-mppt"), interval=0.2, seed=seed)
        self.emulator.start()
        self.sub = Subscriber(broker.host, broker.port, f"{PREFIX}/#").start()
        self.db = db or workdir / "edged.db"
        config = write_config(
            workdir,
            devices=device_toml(Path(self.emulator.path)),
            broker_port=broker.port,
            prefix=PREFIX,
        )
        config.write_text(config.read_text().replace(str(workdir / "edged.db"), str(self.db)))
        self.config = config

    def live_ts(self) -> list[float]:
        return [
            json.loads(m.payload)["ts"]
            for m in self.sub.received(lambda m: m.topic == f"{PREFIX}/test-site/telemetry/mppt")
        ]

    def alarm(self, rule: str) -> dict | None:
        found = self.sub.received(lambda m: f"/alarm/{rule}." in m.topic)
        return json.loads(found[-1].payload) if found else None

    def stored_ts(self) -> set[float]:
        return {ts for (ts,) in db_rows(self.db, "SELECT ts FROM records WHERE device = 'mppt'")}

    def stop(self) -> None:
        self.sub.stop()
        self.emulator.stop()


def zero_header(db: Path) -> None:
    with db.open("r+b") as f:
        f.write(bytes(100))


def truncate_half(db: Path) -> None:
    os.truncate(db, db.stat().st_size // 2)


def overwrite_page(table: str):
    def damage(db: Path) -> None:
        conn = sqlite3.connect(db)
        pages = [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = ?", (table,))]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.close()
        assert pages, f"table {table} has no page"
        with db.open("r+b") as f:
            f.seek((pages[len(pages) // 2] - 1) * size)
            f.write(b"\xa5" * size)

    return damage


DAMAGE = {
    "header_zeroed": zero_header,
    "truncated_half": truncate_half,
    **{
        f"page_in_{t}": overwrite_page(t)
        for t in ("records", "sample_blocks", "outbox", "device_state", "devices", "alarms", "kv")
    },
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_database_is_set_aside_and_the_daemon_runs_on(kind, tmp_path, broker, daemons):
    site = Site(tmp_path, broker)
    try:
        first = daemons(site.config)
        wait_until(lambda: len(site.stored_ts()) >= 4, 60, what="records stored")
        assert first.terminate() == 0
        conn = sqlite3.connect(site.db)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        DAMAGE[kind](site.db)
        live_before = len(site.live_ts())

        second = daemons(site.config)
        wait_until(lambda: len(site.live_ts()) >= live_before + 3, 60, what="live telemetry")
        alarm = wait_until(lambda: site.alarm("database_recovered"), 60, what="the alarm")
        assert alarm["active"] is True and "endommagée" in alarm["message"]
        assert second.proc.poll() is None, second.logs()[-3000:]
        aside = salvage.damaged_copies(site.db)
        assert len(aside) == 1 and aside[0].stat().st_size > 0
        wait_until(lambda: len(site.stored_ts()) >= 3, 60, what="records stored after")
        assert "moved aside to edged.db.damaged-" in second.logs()
        assert db_rows(site.db, "PRAGMA quick_check") == [("ok",)]
    finally:
        site.stop()


def test_a_second_daemon_on_one_database_exits_2_naming_the_holder(tmp_path, broker, daemons):
    site = Site(tmp_path, broker)
    try:
        first = daemons(site.config)
        wait_until(lambda: site.live_ts(), 60, what="the first daemon live")
        second = DaemonProcess(site.config, tmp_path / "second.log", env={"EDGED_LANG": "en"})
        second.start()
        assert second.proc.wait(60) == 2
        assert f"already used by another daemon (pid {first.proc.pid})" in second.logs()
        assert first.proc.poll() is None
        assert first.terminate() == 0  # the lock dies with its holder: a restart takes it
        third = daemons(site.config)
        count = len(site.live_ts())
        wait_until(lambda: len(site.live_ts()) > count, 60, what="the restarted daemon live")
        assert third.proc.poll() is None
    finally:
        site.stop()


# --- a full disk: a small tmpfs filled by the test ------------------------------------------


@pytest.fixture
def small_fs(tmp_path):
    mount = tmp_path / "sd"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()!r}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    filler = directory / f"filler-{uuid.uuid4().hex}"
    with filler.open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


def writer_stats(workdir: Path) -> dict:
    """The Writer's counters from the daemon's live file ({} until its first write)."""
    try:
        return json.loads((workdir / "live.json").read_text())["writer"]
    except (OSError, ValueError):
        return {}


def test_full_disk_at_start_runs_live_only_then_stores_what_it_held(
    small_fs, tmp_path, broker, daemons
):
    site = Site(tmp_path, broker, db=small_fs / "edged.db", seed=2)
    try:
        filler = fill(small_fs)
        daemon = daemons(site.config)
        wait_until(lambda: len(site.live_ts()) >= 3, 60, what="live telemetry with a full disk")
        alarm = wait_until(lambda: site.alarm("storage_failed"), 90, what="storage_failed")
        assert alarm["active"] is True and "disque plein" in alarm["message"]
        held = set(site.live_ts())
        filler.unlink()
        wait_until(lambda: held <= site.stored_ts(), 90, what="held records stored")
        wait_until(lambda: site.alarm("storage_failed")["active"] is False, 60, what="cleared")
        assert daemon.proc.poll() is None
    finally:
        site.stop()


def test_disk_filling_mid_run_keeps_live_and_loses_no_held_record(
    small_fs, tmp_path, broker, daemons
):
    site = Site(tmp_path, broker, db=small_fs / "edged.db", seed=3)
    try:
        daemon = daemons(site.config)
        wait_until(lambda: len(site.stored_ts()) >= 3, 60, what="records stored")
        filler = fill(small_fs)
        wait_until(
            lambda: writer_stats(tmp_path).get("commit_failures"), 60, what="a failing commit"
        )
        count = len(site.live_ts())
        wait_until(lambda: len(site.live_ts()) >= count + 3, 60, what="live while the disk is full")
        wait_until(lambda: site.alarm("storage_failed"), 90, what="storage_failed")
        held = set(site.live_ts())
        filler.unlink()
        wait_until(lambda: held <= site.stored_ts(), 90, what="held records stored")
        assert daemon.proc.poll() is None
        assert writer_stats(tmp_path)["dropped"] == 0
    finally:
        site.stop()


# --- the Writer alone: rows SQLite rejects, damage while running, the lock --------------------


def mppt(ts: float, v: float = 13.0) -> Sample:
    return Sample("mppt", ts, True, {"battery_voltage": v})


class _WrongArity:
    KIND = "kv"

    def params(self) -> tuple:
        return ("only-one-parameter",)


def test_rejected_rows_are_quarantined_and_never_block_the_batch(tmp_path):
    w = Writer(tmp_path / "edged.db", publish_interval=60.0, commit_interval=3600.0)
    w.start()
    try:
        w.put_row(_WrongArity())  # a row type whose params do not match its statement
        w.put_row(KvRow("big", 2**70))  # an int SQLite cannot bind
        w.put_row(AlarmCleared(T0, None))  # binds, updates nothing: fine
        w.put_row(HealthRow("pibox", T0, True, None))  # NOT NULL violated
        w.put_state("mppt", DeviceState(Liveness.OK, object()))  # type: ignore[arg-type]
        w.put_row(KvRow("good", "1"))
        w.put(mppt(T0))
        assert w.flush() is True
        assert w.flush() is True  # nothing left that fails
        kept = (tmp_path / "edged.db.quarantine").read_text().splitlines()
        assert [json.loads(k)["kind"] for k in kept] == ["device_state", "kv", "kv", "health"]
        assert all(json.loads(k)["reason"] for k in kept)
        assert w.stats["quarantined"] == 4 and w.stats["commit_failures"] == 0
        assert w.call(lambda db: db.execute("SELECT value FROM kv").fetchall()) == [("1",)]
    finally:
        w.stop()


def test_damage_while_running_replaces_the_file_and_keeps_the_batch(tmp_path):
    path = tmp_path / "edged.db"
    got = []
    w = Writer(path, publish_interval=60.0, commit_interval=3600.0, on_records=got.extend)
    w.start()
    try:
        for i in range(0, 130):
            w.put(mppt(T0 + i))
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
            w.put(mppt(T0 + i))
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


def test_outbox_sweep_excludes_more_ids_than_sqlites_variable_limit(tmp_path):
    db = store.open_db(tmp_path / "edged.db")
    limit = db.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    n = limit + 500
    with store.transaction(db.conn):
        db.conn.executemany(
            "INSERT INTO records VALUES (?, 'mppt', ?, 1, 1, ?, '{}')",
            [(i, T0 + i, i) for i in range(1, n + 2)],
        )
        db.conn.executemany("INSERT INTO outbox VALUES (?)", [(i,) for i in range(1, n + 2)])
    found = outbox.pending(db, 10, exclude=range(1, n + 1))
    assert [r.id for r in found] == [n + 1]


def test_vacuum_is_skipped_when_the_disk_lacks_room_for_its_copy(tmp_path, monkeypatch, caplog):
    db = store.open_db(tmp_path / "edged.db")
    usage = store.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(store.shutil, "disk_usage", lambda _p: usage._replace(free=1024))
    assert store.vacuum_if_room(db.conn) is False
    assert "VACUUM skipped" in caplog.text
    monkeypatch.undo()
    assert store.vacuum_if_room(db.conn) is True


def test_windows_closing_while_commits_fail_go_live_and_retries_back_off(tmp_path):
    live, committed = [], []
    w = Writer(
        tmp_path / "edged.db",
        publish_interval=60.0,
        commit_interval=0.05,
        on_closed=live.extend,
        on_records=committed.extend,
    )
    w.start()
    try:
        w.put(mppt(T0))
        assert w.flush()
        pages = w.call(lambda db: db.execute("PRAGMA page_count").fetchone()[0])
        w.call(lambda db: db.execute(f"PRAGMA max_page_count = {pages}").fetchone())
        noise = random.Random(1)  # values that do not compress away: the block needs new pages
        for i in range(1, 400):
            w.put(mppt(T0 + i, v=12 + noise.random()))
        wait_until(lambda: w.stats["commit_failures"], 10, what="a failing commit")
        assert w.storage_health()["failing"] is True
        # every window that closed is live although none is committed
        wait_until(lambda: len(live) == 6, 10, what="six windows live")
        assert [r.samples for r in live] == [50, 60, 60, 60, 60, 60] and committed == []
        before = w.stats["commit_failures"]
        time.sleep(1.5)  # at a 0.05 s cadence 30 tries; the backoff doubles from 0.1 s
        assert w.stats["commit_failures"] - before <= 6
        w.call(lambda db: db.execute("PRAGMA max_page_count = 1073741823").fetchone())
        assert w.flush() is True
        assert [r.id for r in committed] == [r.id for r in live]
        assert w.storage_health()["failing"] is False and w.stats["dropped"] == 0
    finally:
        w.stop()


def test_a_garbage_sample_block_is_skipped_at_replay_not_fatal(tmp_path, caplog):
    path = tmp_path / "edged.db"
    w = Writer(path, publish_interval=60.0, commit_interval=3600.0)
    for i in range(5):
        w.put(mppt(T0 + i))
    w.stop()
    conn = sqlite3.connect(path)
    for first_seq, data in (
        (6, b"not zlib"),
        (7, zlib.compress(b"[1, 2]")),
        (8, zlib.compress(b'{"v": 1, "t": [1], "s": []}')),
        (10, b"\x02" + b"not deflate"),
        (11, b"\x02" + stored_metrics.deflate(b'{"t": [1], "s": []}')),
        (12, b"\x02" + stored_metrics.deflate(b'{"t": [1], "s": [1], "m": {}}')[:-3]),
    ):
        conn.execute(
            "INSERT INTO sample_blocks VALUES (?, ?, 1, ?, ?, ?)",
            (first_seq, first_seq, T0 + 9, T0 + 9, data),
        )
    conn.commit()
    conn.close()
    w = Writer(path, publish_interval=60.0, commit_interval=3600.0)  # replays: must not raise
    w.put(mppt(T0 + 20))
    w.stop()
    db = store.open_db(path, readonly=True)
    assert [seq for seq, _ in store.read_samples(db)] == [1, 2, 3, 4, 5, 13]
    assert caplog.text.count("unreadable, skipped") >= 6


def test_a_record_whose_stored_json_rotted_leaves_the_outbox_and_the_rest_is_sent(
    tmp_path, broker, daemons
):
    """A flipped byte inside one stored record (SQLite's page checks cannot see it) must not end
    the publisher's thread at every start: that record is dropped from the outbox, counted, and
    every other one goes out as history."""
    site = Site(tmp_path, broker, seed=6)
    try:
        broker.stop()
        first = daemons(site.config)
        wait_until(lambda: len(site.stored_ts()) >= 4, 60, what="records stored")
        assert first.terminate() == 0
        with sqlite3.connect(site.db) as conn:
            ids = [i for (i,) in conn.execute("SELECT record_id FROM outbox ORDER BY record_id")]
            conn.execute(
                "UPDATE records SET metrics = '{\"battery_voltage\":1\x01.5}' WHERE id = ?",
                (ids[0],),
            )
        conn.close()
        broker.start()
        second = daemons(site.config)
        wait_until(
            lambda: not db_rows(site.db, f"SELECT 1 FROM outbox WHERE record_id <= {ids[-1]}"),
            90,
            what="the stored backlog sent and the damaged record dropped",
        )
        assert second.proc.poll() is None
        history = site.sub.received(lambda m: "/history/" in m.topic)
        sent = {s["ts"] for m in history for s in json.loads(m.payload)["samples"]}
        [(bad_ts,)] = db_rows(site.db, f"SELECT ts FROM records WHERE id = {ids[0]}")
        assert bad_ts not in sent and len(sent) >= len(ids) - 1
        assert "unreadable, dropped from the outbox" in second.logs()
    finally:
        site.stop()


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
        w.put(mppt(T0 + i))
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
