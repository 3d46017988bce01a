"""`edged-fleet collect` against real peers: mosquitto (MQTT 5, shared subscription) and a
PostgreSQL cluster. Sites are played by a test publisher with the daemon's exact payloads."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from tests.fleet.publisher import Publisher
from tests.peers.replay import wait_until

T0 = 1_764_000_000  # 2025-11-24


def record(ts: float, soc: float, clock: str = "synced", legacy: bool = False, **extra) -> bytes:
    """A live record as edged writes it; `legacy`: as an edged before issue 13 did (the count
    under `samples`)."""
    body = {"ts": ts, "metrics": {"battery_soc": soc, "battery_voltage": 12.5}, "clock": clock}
    count = {"samples" if legacy else "sample_count": 60}
    return json.dumps({**body, **count, **extra}, separators=(",", ":")).encode()


def history(samples: list[tuple[float, float, str]], compress: bool = True) -> bytes:
    body = {
        "samples": [{"ts": t, "metrics": {"battery_soc": s}, "clock": c} for t, s, c in samples]
    }
    data = json.dumps(body, separators=(",", ":")).encode()
    return gzip.compress(data, mtime=0) if compress else data


def counter(db, name: str) -> int:
    rows = db("SELECT value FROM counters WHERE name = %s", name)
    return rows[0][0] if rows else 0


@pytest.fixture
def site(central):
    pub = Publisher(central.host, central.port)
    yield pub
    pub.close()


def started(collectors, db, slot: int = 1, *extra: str):
    c = collectors(slot, *extra)
    wait_until(lambda: db("SELECT version FROM schema_migrations"), 30, what="schema migrated")
    return c


def wait_subscribed(c, timeout: float = 30) -> None:
    wait_until(lambda: "subscribed to" in c.logs(), timeout, what="collector subscribed")


def test_records_land_once_and_duplicates_do_not_double(collectors, db, site):
    c = started(collectors, db)
    wait_subscribed(c)
    # Sites upgrade one by one: the last two records come from an edged before issue 13.
    live = [
        ("edged/s1/telemetry/mppt", record(T0 + 60 * i, 50 + i, legacy=i >= 3)) for i in range(5)
    ]
    site.publish(live)
    # at least once: the same records again, live and inside a history batch
    site.publish(live[:2])
    site.publish(
        [("edged/s1/history/mppt", history([(T0, 50, "synced"), (T0 + 60, 51, "synced")]))]
    )
    wait_until(lambda: counter(db, "messages") >= 8, 60, what="8 messages committed")
    rows = db("SELECT ts, metrics, synced, samples, live FROM records ORDER BY ts")
    assert [r[0].timestamp() for r in rows] == [T0 + 60 * i for i in range(5)]
    assert [r[1]["battery_soc"] for r in rows] == [50, 51, 52, 53, 54]
    assert all(r[2] and r[3] == 60 and r[4] for r in rows)  # the live copies kept, both forms
    assert counter(db, "records_inserted") == 5
    assert counter(db, "records_duplicate") == 4
    (latest,) = db("SELECT ts, metrics FROM site_latest WHERE site = 's1' AND device = 'mppt'")
    assert latest[0].timestamp() == T0 + 240 and latest[1]["battery_soc"] == 54
    assert c.terminate() == 0  # SIGTERM: a clean stop, the session left at the broker


def test_unsynced_and_late_gzip_history_land_in_their_monthly_partitions(collectors, db, site):
    c = started(collectors, db)
    wait_subscribed(c)
    site.publish([("edged/s2/telemetry/bmv", record(T0 + 86400 * 40, 80))])  # now: 2026-01
    # a site back after weeks offline: history from two older months, one never-synced clock
    old = [(T0 - 86400 * 30, 60, "synced"), (T0, 61, "synced"), (86400 * 3, 62, "unsynced")]
    site.publish([("edged/s2/history/bmv", history(old))])
    wait_until(lambda: counter(db, "records_inserted") >= 4, 60, what="4 records")
    parts = dict(db("SELECT tableoid::regclass::text, count(*) FROM records GROUP BY 1"))
    assert parts == {
        "records_2025_10": 1,
        "records_2025_11": 1,
        "records_2026_01": 1,
        "records_1970_01": 1,
    }
    (unsynced,) = db("SELECT ts, synced, live FROM records WHERE NOT synced")
    assert unsynced[0] == datetime.fromtimestamp(86400 * 3, UTC) and unsynced[2] is False
    assert counter(db, "records_unsynced") == 1
    # late history never replaces the latest record on the overview
    (latest,) = db("SELECT metrics FROM site_latest WHERE site = 's2'")
    assert latest[0]["battery_soc"] == 80


def compact(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


RUN = {
    "job": "backup",
    "kind": "backup",
    "started": T0,
    "ended": T0 + 300,
    "duration_s": 300.0,
    "outcome": "success",
    "exit_code": 0,
    "future_key": 1,
}
DEVICE = {
    "state": "ok",
    "last_seen": T0 + 0.5,
    "product": "SmartSolar MPPT 100/20",
    "serial": "HQ1",
    "firmware": "v1.63",
    "counters": {"frames": 3},
    "seq": 7,
}
RAISED = {
    "active": True,
    "severity": "critical",
    "since": T0,
    "message": "Batterie faible",
    "message_en": "Battery low",
    "rule": "battery_soc_low",
    "subject": "bmv",
    "value": 18,
}
CLEARED = {**RAISED, "active": False, "cleared": T0 + 900}
HEALTH = {"ts": T0 + 0.123, "ok": False, "detail": "hot", "values": {"temperature": 71.5}}
JOB = {"job": "backup", "kind": "backup", "state": "idle", "progress": None, "last": RUN}
SHED = {"level": "warn", "since": T0, "code": "shed_low", "services": []}
END = {"job": "backup", "ts": T0 + 300, "action": "end", **RUN}


def test_every_topic_lands_in_its_table_and_unknown_keys_are_kept(collectors, db, site):
    c = started(collectors, db)
    wait_subscribed(c)
    alarm = "edged/s3/alarm/battery_soc_low.bmv"
    site.publish(
        [
            ("edged/s3/status", b"online"),
            ("edged/s3/device/mppt", compact(DEVICE)),
            (alarm, compact(RAISED)),
            ("edged/s3/health/pibox", compact(HEALTH)),
            ("edged/s3/job/backup", compact(JOB)),
            ("edged/s3/power/shedding", compact(SHED)),
            ("edged/s3/event/job", compact(END)),
            ("edged/s3/report/2025-10", compact({"month": "2025-10", "availability": 0.97})),
        ]
    )
    # the clear comes later, with a newer time; then a stale copy of the raise (redelivered)
    site.publish([(alarm, compact(CLEARED))])
    wait_until(lambda: counter(db, "messages") >= 9, 60, what="9 messages")
    site.publish([(alarm, compact(RAISED))])
    wait_until(lambda: counter(db, "messages") >= 10, 60, what="10 messages")
    assert db("SELECT status FROM sites WHERE site = 's3'") == [("online",)]
    (dev,) = db("SELECT state, product, serial, firmware, payload FROM devices")
    assert dev[:4] == ("ok", "SmartSolar MPPT 100/20", "HQ1", "v1.63") and dev[4]["seq"] == 7
    (alarm,) = db("SELECT active, cleared FROM alarms WHERE alarm_id = 'battery_soc_low.bmv'")
    assert alarm == (False, datetime.fromtimestamp(T0 + 900, UTC)), "a stale raise won"
    assert len(db("SELECT * FROM alarm_history")) == 2
    (health,) = db('SELECT ok, detail, "values" FROM health')
    assert health == (False, "hot", {"temperature": 71.5})
    assert db("SELECT state FROM jobs") == [("idle",)]
    (result,) = db("SELECT outcome, exit_code, duration_s FROM job_results")  # event + last: one
    assert result == ("success", 0, 300.0)
    assert db("SELECT level, code FROM shedding") == [("warn", "shed_low")]
    assert db("SELECT kind FROM events") == [("job",)]
    assert db("SELECT month, summary->>'availability' FROM reports") == [("2025-10", "0.97")]
    assert not db("SELECT * FROM rejects")


BAD = [
    ("edged/s4/status", b"maybe", "status: expected"),
    ("edged/s4/telemetry/mppt", b"{not json", "not JSON"),
    ("edged/s4/telemetry/mppt", b'{"ts":"x","metrics":{}}', "ts is not a number"),
    ("edged/s4/telemetry/mppt", b'{"ts":1764000000,"metrics":{"v":NaN}}', "not JSON: NaN"),
    ("edged/s4/telemetry/mppt", b'{"ts":1764000000,"metrics":{"v":"a\\u0000b"}}', "NUL"),
    ("edged/s4/telemetry/mppt", b'{"ts":1e300,"metrics":{}}', "outside 1970..2100"),
    ("edged/s4/history/mppt", b"\x1f\x8b\x08\x00garbage", "bad gzip"),
    ("edged/s4/history/mppt", b'{"samples":{}}', "samples is not a list"),
    ("edged/s4/device/mppt", b"[1,2]", "expected a JSON object"),
    ("edged/s4/alarm/x.y", b'{"active":"yes"}', "active is not true or false"),
    ("edged/s4/health/pibox", b'{"ok":true}', "ts is not a number"),
    ("edged/s4/job/backup", b'{"progress":"half"}', "progress is not a number"),
    ("edged/s4/power/shedding", b"\xff\xfe", "not JSON"),
    ("edged/s4/event/job", b"", "not JSON"),
    ("edged/s4/report/October", b"{}", "not a YYYY-MM month"),
    ("edged/s4/weather/today", b"{}", "unknown topic kind"),
]


def test_a_malformed_message_on_each_topic_is_rejected_counted_and_ingest_goes_on(
    collectors, db, site
):
    c = started(collectors, db)
    wait_subscribed(c)
    site.publish([(topic, payload) for topic, payload, _ in BAD])
    site.publish([("edged/s4/telemetry/mppt", record(T0, 42))])
    wait_until(lambda: db("SELECT * FROM records"), 60, what="the good record after the bad")
    rejects = db("SELECT topic, payload, reason FROM rejects ORDER BY id")
    assert len(rejects) == len(BAD)
    by_payload = {(t, bytes(p)): reason for t, p, reason in rejects}
    for topic, payload, why in BAD:
        assert why in by_payload[(topic, payload)], (topic, payload, by_payload)
    assert counter(db, "rejected") == len(BAD)
    assert c.alive()
    assert "rejected" in c.logs()


def test_a_message_the_database_refuses_becomes_a_reject_and_the_batch_still_lands(
    collectors, db, site
):
    """Defence in depth: should PostgreSQL refuse what the parser let through, the batch is
    written message by message and only the refused message is rejected (here a constraint the
    test adds stands for any such refusal)."""
    c = started(collectors, db)
    wait_subscribed(c)
    db("ALTER TABLE site_latest ADD CONSTRAINT test_refuse CHECK (device <> 'poison')")
    msgs = [(f"edged/s5/telemetry/dev{i}", record(T0, 40 + i)) for i in range(20)]
    msgs.insert(7, ("edged/s5/telemetry/poison", record(T0, 1)))
    site.publish(msgs)
    wait_until(lambda: counter(db, "messages") >= 21, 60, what="21 messages")
    assert len(db("SELECT * FROM records")) == 20
    (reject,) = db("SELECT topic, reason FROM rejects")
    assert reject[0] == "edged/s5/telemetry/poison" and "database refused" in reject[1]
    assert c.alive()


def test_a_partition_dropped_behind_the_collector_is_created_again(collectors, db, site):
    c = started(collectors, db)
    wait_subscribed(c)
    site.publish([("edged/s6/telemetry/mppt", record(T0, 10))])
    wait_until(lambda: counter(db, "records_inserted") >= 1, 60, what="first record")
    db("DROP TABLE records_2025_11")  # retention by hand, while the collector runs
    site.publish([("edged/s6/telemetry/mppt", record(T0 + 60, 11))])
    wait_until(lambda: counter(db, "records_inserted") >= 2, 60, what="second record")
    assert not db("SELECT * FROM rejects")
    assert [r[0].timestamp() for r in db("SELECT ts FROM records")] == [T0 + 60]


def test_live_and_history_lanes_split_the_topics_and_together_hold_everything(collectors, db, site):
    live = started(collectors, db, 1, "--lane", "live")
    hist = collectors(1, "--lane", "history")
    wait_subscribed(live)
    wait_subscribed(hist)
    old = [(T0 - 3600 + 60 * i, 30 + i, "synced") for i in range(10)]
    site.publish(
        [
            ("edged/s7/history/bmv", history(old)),
            ("edged/s7/telemetry/bmv", record(T0, 70)),
            ("edged/s7/alarm/battery_soc_low.bmv", compact(RAISED)),
            ("edged/s7/status", b"online"),
        ]
    )
    wait_until(lambda: counter(db, "messages") >= 4, 60, what="4 messages")
    assert len(db("SELECT * FROM records")) == 11
    assert len(db("SELECT * FROM alarms")) == 1
    per_slot = {
        (who, name): value
        for who, name, value in db("SELECT collector, name, value FROM collector_counters")
    }
    assert per_slot[("edged-fleet-test-history-1", "records_received")] == 10
    assert per_slot[("edged-fleet-test-live-1", "records_received")] == 1
    assert per_slot[("edged-fleet-test-live-1", "messages")] == 3
