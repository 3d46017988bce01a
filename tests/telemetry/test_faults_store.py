"""Fault injection on the store under the daemon: damaged files, a full disk, a rotted record,
two daemons; and the store's reads and VACUUM at their limits.

The daemon tests run the real `edged run` with a VE.Direct controller emulated on a pty and a
real mosquitto: the damage is done with the daemon stopped, then it must come up, publish live,
raise the alarm, keep the damaged file aside and store again. The full-disk tests mount a small
tmpfs (skipped, saying why, where mounting is not permitted). The Writer's own faults are
tested beside the modules that meet them: test_writer_database (damage while running, a cut
during a salvage, the lock), test_commit_retry (a full disk), test_quarantine (rows SQLite
rejects), test_writer_replay (a garbage sample block).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest

from drivers.victron.vedirect.emulator import PtyEmulator
from telemetry import outbox, salvage, store
from tests.peers.daemon import DaemonProcess, db_rows, write_config
from tests.peers.replay import wait_until
from tests.peers.subscriber import Subscriber
from tests.telemetry.damage import overwrite_page, truncate_half, zero_header

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
        """Stored records' ts; none while the daemon's upgrade waits for space (it says so)."""
        try:
            rows = db_rows(self.db, "SELECT ts FROM records WHERE device = 'mppt'")
        except sqlite3.OperationalError as exc:
            if "upgrades it once its storage works" not in str(exc):
                raise
            return set()
        return {ts for (ts,) in rows}

    def stop(self) -> None:
        self.sub.stop()
        self.emulator.stop()


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


# --- the store's reads and maintenance at their limits ---------------------------------------


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
