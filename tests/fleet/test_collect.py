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


def record(ts: float, soc: float, clock: str = "synced", **extra) -> bytes:
    body = {"ts": ts, "metrics": {"battery_soc": soc, "battery_voltage": 12.5}, "clock": clock}
    return json.dumps({**body, "samples": 60, **extra}, separators=(",", ":")).encode()


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
    wait_until(lambda: "connected to" in c.logs(), timeout, what="collector connected")


def test_records_land_once_and_duplicates_do_not_double(collectors, db, site):
    c = started(collectors, db)
    wait_subscribed(c)
    live = [("edged/s1/telemetry/mppt", record(T0 + 60 * i, 50 + i)) for i in range(5)]
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
    assert all(r[2] and r[3] == 60 and r[4] for r in rows)  # the live copies kept
    assert counter(db, "records_inserted") == 5
    assert counter(db, "records_duplicate") == 4
    (latest,) = db("SELECT ts, metrics FROM site_latest WHERE site = 's1' AND device = 'mppt'")
    assert latest[0].timestamp() == T0 + 240 and latest[1]["battery_soc"] == 54
    assert c.alive()


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
