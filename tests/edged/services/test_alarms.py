"""Alarm and health rows ride in the Writer's commits; alarms are restored across restarts."""

from __future__ import annotations

import json

from edged.config.alarms import AlarmRuleConfig, AlarmsConfig
from edged.config.settings import Config
from edged.config.site import SiteConfig, StorageConfig
from edged.readings import Sample
from edged.services.alarms import AlarmService
from maintenance.health.reading import HealthReading
from telemetry.rows import AlarmCleared, AlarmRaised, HealthRow, KvRow
from telemetry.writer import Writer
from tests.peers.daemon import db_rows


def writer(path) -> Writer:
    w = Writer(path, publish_interval=60.0, commit_interval=3600.0)
    w.start()
    return w


def config(path, alarms: AlarmsConfig) -> Config:
    return Config(site=SiteConfig("t"), storage=StorageConfig(path=str(path)), alarms=alarms)


def test_health_rows_and_alarm_changes_share_one_commit(tmp_path):
    path = tmp_path / "edged.db"
    w = writer(path)
    try:
        for i in range(3):
            w.put_row(HealthRow("pibox", 100.0 + i, True, '{"load_1m":0.5}'))
        w.put_row(AlarmRaised("a.x", "a", "x", "warning", 101.0, "fr", "en", "5"))
        w.put_row(AlarmCleared(102.0, "a.x"))
        w.put_row(KvRow("k", "1"))
        w.put_row(KvRow("k", "2"))
        assert db_rows(path, "SELECT count(*) FROM health") == [(0,)]  # nothing before commit
        assert w.flush()
        assert w.stats["commits"] == 1
        assert db_rows(path, "SELECT count(*) FROM health") == [(3,)]
        assert db_rows(path, "SELECT alarm_id, active, since, cleared FROM alarms") == [
            ("a.x", 0, 101.0, 102.0)
        ]
        assert db_rows(path, "SELECT key, value FROM kv") == [("k", "2")]
        assert w.flush() and w.stats["commits"] == 1  # nothing new: no commit
    finally:
        w.stop()


def test_service_stores_raises_restores_and_clears_orphans(tmp_path):
    path = tmp_path / "edged.db"
    low = AlarmsConfig(overrides=(AlarmRuleConfig("battery_soc_low", delay=0),))
    w = writer(path)
    service = AlarmService(config(path, low), w, None)
    service.restore()
    service.observe_sample(Sample("mppt", 10.0, True, {"battery_soc": 20.0}))
    service.observe_health(HealthReading("pibox", {"disk_used_percent": 95.0}, True), 11.0)
    assert [a["alarm_id"] for a in service.active()] == [
        "battery_soc_low.mppt",
        "pibox_disk_full.pibox",
    ]
    assert w.flush()
    w.stop()

    # restart with pibox_disk_full disabled: soc_low restored (not raised again), disk cleared
    w = writer(path)
    off = AlarmsConfig(
        overrides=(
            AlarmRuleConfig("battery_soc_low", delay=0),
            AlarmRuleConfig("pibox_disk_full", enabled=False),
        )
    )
    service = AlarmService(config(path, off), w, None)
    service.restore()
    service.observe_sample(Sample("mppt", 20.0, True, {"battery_soc": 19.0}))
    assert [a["alarm_id"] for a in service.active()] == ["battery_soc_low.mppt"]
    service.observe_sample(Sample("mppt", 30.0, True, {"battery_soc": 45.0}))
    service.observe_sample(Sample("mppt", 400.0, True, {"battery_soc": 45.0}))  # clear delay
    assert service.active() == []
    assert w.flush()
    w.stop()
    rows = db_rows(path, "SELECT alarm_id, active, since, cleared, value FROM alarms ORDER BY id")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("battery_soc_low.mppt", 0, 10.0),
        ("pibox_disk_full.pibox", 0, 11.0),
    ]
    assert rows[0][3] == 400.0 and json.loads(rows[0][4]) == 20.0
    assert rows[1][3] is not None


def test_an_alarm_row_with_a_damaged_value_is_restored_without_it(tmp_path, caplog):
    """A flipped byte in one stored value must not stop the daemon at every start."""
    path = tmp_path / "edged.db"
    w = writer(path)
    w.put_row(
        AlarmRaised(
            "battery_soc_low.mppt",
            "battery_soc_low",
            "mppt",
            "warning",
            10.0,
            "fr",
            "en",
            '{"soc": 2\x010}',
        )
    )
    assert w.flush()
    low = AlarmsConfig(overrides=(AlarmRuleConfig("battery_soc_low", delay=0),))
    service = AlarmService(config(path, low), w, None)
    service.restore()
    w.stop()
    [alarm] = service.active()
    assert alarm["alarm_id"] == "battery_soc_low.mppt" and alarm["value"] is None
    assert "unreadable" in caplog.text
