"""The doctor's checks against real things: pseudo-terminals as serial ports (free, held by
another program, missing, not a device), a mosquitto (reachable, refusing anonymous clients,
gone), databases (sound, a damaged copy, not a database, an older schema) and the clock."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
import serial

from edged.config.loader import load
from edged.services import doctor
from edged.services.doctor import Level
from telemetry.schema import SCHEMA_VERSION
from telemetry.store import open_db
from tests.peers.broker import Broker, free_port
from tests.peers.daemon import write_config
from tests.peers.replay import ReplayPty


def device_toml(port: Path | str) -> str:
    return f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{port}"\n'


def config_at(tmp_path: Path, *, devices: str = "", broker_port: int | None = None):
    return load(str(write_config(tmp_path, devices=devices, broker_port=broker_port)))


@pytest.fixture
def pty(tmp_path):
    port = ReplayPty(tmp_path / "tty-mppt", [b"\r\nV\t12800\r\n"])
    port.start()
    yield port
    port.stop()


def one(checks: list[doctor.Check], topic: str) -> doctor.Check:
    found = [c for c in checks if c.topic == topic]
    assert len(found) == 1, checks
    return found[0]


def test_a_free_port_a_held_port_and_a_missing_one(tmp_path, pty):
    config = config_at(tmp_path, devices=device_toml(pty.link))
    assert [c.key for c in doctor.check_ports(config, running=False)] == ["port.free"]

    holder = serial.Serial(str(pty.link), exclusive=True, timeout=0)  # another program
    try:
        held = one(doctor.check_ports(config, running=False), "port")
        assert (held.level, held.key) == (Level.FAIL, "port.busy")
        assert "fuser -v" in held.hint_text("en") and "autre programme" in held.text("fr")
        by_edged = one(doctor.check_ports(config, running=True), "port")
        assert (by_edged.level, by_edged.key) == (Level.OK, "port.edged")
    finally:
        holder.close()

    pty.unplug()
    gone = one(doctor.check_ports(config, running=False), "port")
    assert (gone.level, gone.key) == (Level.FAIL, "port.missing")
    assert str(pty.link) in gone.text("en")


def test_a_file_that_is_not_a_serial_port(tmp_path):
    plain = tmp_path / "not-a-tty"
    plain.write_text("hello")
    config = config_at(tmp_path, devices=device_toml(plain))
    assert one(doctor.check_ports(config, running=False), "port").key == "port.notchar"


def make_db(path: Path, rows: int = 3000) -> None:
    db = open_db(path)
    with db.conn:
        db.conn.executemany(
            "INSERT INTO kv (key, value) VALUES (?, ?)",
            ((f"k{i}", "x" * 200) for i in range(rows)),
        )
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()


def test_database_sound_damaged_foreign_and_old(tmp_path):
    config = config_at(tmp_path)
    database = Path(config.storage.path)
    first = doctor.check_database(config)
    assert [c.key for c in first][:1] == ["db.none"] and first[0].level is Level.WARN

    make_db(database)
    sound = one(doctor.check_database(config), "database")
    assert (sound.level, sound.key) == (Level.OK, "db.ok")
    assert f"schema v{SCHEMA_VERSION}" in sound.text("en")

    pristine = tmp_path / "pristine.db"
    shutil.copy(database, pristine)
    page = 4096
    with database.open("r+b") as f:  # a page in the middle overwritten, as a bad SD write does
        f.seek(page * (database.stat().st_size // page // 2))
        f.write(os.urandom(page))
    damaged = one(doctor.check_database(config), "database")
    assert (damaged.level, damaged.key) == (Level.FAIL, "db.damaged"), damaged
    assert "redémarrer edged" in damaged.hint_text("fr")

    database.write_bytes(b"this is no database at all, " * 200)
    foreign = one(doctor.check_database(config), "database")
    assert foreign.level is Level.FAIL and "not a database" in foreign.text("en")

    shutil.copy(pristine, database)
    conn = sqlite3.connect(database)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    conn.close()
    old = one(doctor.check_database(config), "database")
    assert (old.level, old.key) == (Level.WARN, "db.schema")


def test_disk_levels_follow_free_space(tmp_path):
    check = doctor.check_disk(tmp_path)
    free = shutil.disk_usage(tmp_path).free
    expected = (
        Level.FAIL
        if free < doctor.DISK_FAIL_BYTES
        else Level.OK
        if free >= doctor.DISK_WARN_BYTES and check.values["pct"] >= 10
        else Level.WARN
    )
    assert check.level is expected and "%" in check.text("fr")


def test_clock_verdicts():
    assert doctor.check_clock(lambda: True).level is Level.OK
    bad = doctor.check_clock(lambda: False)
    assert bad.level is Level.WARN and "NON synchronisée" in bad.text("fr")


def test_broker_reachable_refusing_and_gone(tmp_path):
    (tmp_path / "good").mkdir()
    good = Broker(tmp_path / "good")
    good.start()
    try:
        ok = doctor.check_broker(config_at(tmp_path, broker_port=good.port))
        assert (ok.level, ok.key) == (Level.OK, "mqtt.ok"), ok.values
    finally:
        good.stop()
    (tmp_path / "closed").mkdir()
    closed = Broker(tmp_path / "closed")
    closed.conf.write_text(
        f"listener {closed.port} 127.0.0.1\nallow_anonymous false\npersistence false\n"
    )
    closed.start()
    try:
        refused = doctor.check_broker(config_at(tmp_path, broker_port=closed.port))
        assert (refused.level, refused.key) == (Level.FAIL, "mqtt.refused"), refused.values
    finally:
        closed.stop()
    gone = doctor.check_broker(config_at(tmp_path, broker_port=free_port()), timeout=5)
    assert (gone.level, gone.key) == (Level.FAIL, "mqtt.down")
    assert "3G" in gone.hint_text("fr")


def test_an_invalid_config_is_the_only_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[site]\nid = "Not Valid!"\nbogus = 1\n')
    checks = doctor.examine(str(path))
    assert [(c.topic, c.level) for c in checks] == [("config", Level.FAIL)]
    assert "(+" in checks[0].text("en")  # more than one problem: the count of the others
    garbage = tmp_path / "garbage.toml"
    garbage.write_bytes(b"\xff\xfe[[[ not toml")
    assert doctor.examine(str(garbage))[0].level is Level.FAIL
