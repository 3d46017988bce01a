"""The PV profile aggregated in SQLite equals the one computed from decoded records, and stays
out of Python's memory.

Real SQLite files made by `telemetry.store.open_db` (the daemon's schema); records written as
the Writer writes them (compact JSON, Python's `NaN`/`Infinity` literals allowed).
"""

from __future__ import annotations

import json
import math
import random
import tracemalloc
from types import SimpleNamespace

import pytest

from maintenance.energy.pv_profile import HourlyProfile
from telemetry.pv_hours import hourly_means
from telemetry.store import open_db
from telemetry.stored_metrics import record_from_row


def stored_profile(db, now_ts: float, days: float = 7.0, offset: float = 0.0):
    """The profile the daemon builds from the stored hourly means, and the records left out."""
    found = hourly_means(db, now_ts, days, offset)
    return SimpleNamespace(profile=HourlyProfile(found.means), skipped=found.skipped)


DAY = 86400.0
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def _db(tmp_path, rows):
    """A daemon database holding `rows`: (device, ts, synced, metrics dict or raw JSON text)."""
    db = open_db(tmp_path / "edged.db")
    db.conn.execute("BEGIN")  # one transaction: the connection autocommits otherwise
    db.conn.executemany(
        "INSERT INTO records (device, ts, synced, samples, last_seq, metrics)"
        " VALUES (?, ?, ?, 60, 0, ?)",
        [
            (
                device,
                ts,
                int(synced),
                m if isinstance(m, str) else json.dumps(m, separators=(",", ":"), default=str),
            )
            for device, ts, synced, m in rows
        ],
    )
    db.conn.execute("COMMIT")
    return db


def _python_profile(db, now, days, offset):
    rows = db.execute("SELECT id, device, ts, synced, samples, metrics FROM records ORDER BY id")
    return HourlyProfile.from_records([record_from_row(r) for r in rows], now, days, offset)


def _assert_same(a: HourlyProfile, b: HourlyProfile) -> None:
    assert [m is None for m in a.means] == [m is None for m in b.means]
    assert [m for m in a.means if m is not None] == pytest.approx(
        [m for m in b.means if m is not None], rel=1e-12, abs=1e-9
    )


def _site_week(seed: int, days: float = 8.0) -> list[tuple]:
    """Two MPPTs and a BMV at 1-minute windows over `days` before NOW, with the mess a site
    makes: gaps, an unsynced stretch, integer and float PV, a record without PV, late copies."""
    rng = random.Random(seed)
    rows = []
    ts = NOW - days * DAY
    while ts < NOW + 3600:
        hour = (ts % DAY) / 3600
        sun = max(0.0, math.sin(math.pi * (hour - 6) / 12))
        synced = not (NOW - 5 * DAY < ts < NOW - 5 * DAY + 7200)
        if rng.random() > 0.05:  # 5 % of windows lost to outages
            rows.append(("mppt1", ts, synced, {"pv_power": round(800 * sun * rng.random(), 1)}))
        if rng.random() > 0.3:  # the second charger misses more windows
            rows.append(("mppt2", ts, synced, {"pv_power": int(300 * sun), "load_on": True}))
        rows.append(("bmv", ts, synced, {"battery_voltage": 25.0 + rng.random()}))
        if rng.random() < 0.01:  # a window stored twice (a replay after a kill)
            rows.append(("mppt1", ts, synced, {"pv_power": 10.0}))
        ts += 60.0
    rng.shuffle(rows)  # stored order must not matter
    return rows


@pytest.mark.parametrize(
    ("seed", "days", "offset"), [(1, 7.0, 0.0), (2, 7.0, 3600.0), (3, 2.5, -5 * 3600.0 - 1800)]
)
def test_sql_profile_equals_python_profile_on_a_site_week(tmp_path, seed, days, offset):
    db = _db(tmp_path, _site_week(seed))
    found = stored_profile(db, NOW, days, offset)
    expected = _python_profile(db, NOW, days, offset)
    assert sum(m is not None for m in expected.means) >= 12  # the data does reach SQL's path
    _assert_same(found.profile, expected)
    assert found.skipped == 0


def test_sql_profile_hand_computed_sums_devices_and_drops_unsynced_clocks(tmp_path):
    noon, eight = NOW - DAY + 12 * 3600.0, NOW - DAY + 8 * 3600.0
    db = _db(
        tmp_path,
        [
            ("mppt1", noon, True, {"pv_power": 400.0}),
            ("mppt2", noon, True, {"pv_power": 200}),
            ("mppt1", noon + 60, True, {"pv_power": 100.0}),
            ("mppt1", eight, True, {"pv_power": 100.0}),
            ("mppt1", eight + 60, False, {"pv_power": 9000.0}),  # clock not synced
            ("mppt1", eight + 120, True, {"battery_voltage": 25.0}),
            ("mppt1", NOW - 8 * DAY, True, {"pv_power": 9000.0}),  # before the period
            ("mppt1", NOW, True, {"pv_power": 9000.0}),  # the period ends before now
        ],
    )
    p = stored_profile(db, NOW, 7.0).profile
    assert (p.mean(12), p.mean(8), p.mean(3)) == (350.0, 100.0, None)  # (600 + 100) / 2
    assert p.best_hours(("07:30", "13:00")) == [12, 8, 7, 9, 10, 11]


def test_hostile_records_are_left_out_and_counted_never_fail_the_query(tmp_path):
    noon = NOW - DAY + 12 * 3600.0
    db = _db(
        tmp_path,
        [
            ("mppt1", noon, True, {"pv_power": 500.0}),
            ("mppt1", noon + 60, True, {"pv_power": True}),  # a boolean is not a power
            ("mppt1", noon + 120, True, {"pv_power": "500"}),  # nor is text
            ("mppt1", noon + 180, True, {"pv_power": None}),
            ("mppt1", noon + 240, True, '{"pv_power":1e999}'),  # infinite: window left out
            ("mppt1", noon + 300, True, {"pv_power": float("nan")}),  # NaN literal: unreadable
            ("mppt1", noon + 360, True, {"pv_power": 300.0, "aux_voltage": float("inf")}),
            ("mppt1", noon + 420, True, "not json at all"),
            ("mppt1", noon + 480, True, '{"pv_power":'),  # a torn row
            ("mppt1", noon + 540, True, '{"pv_power":[1,2]}'),
            ("mppt1", noon + 600, True, {"pv_power": 10**30}),  # beyond 64-bit integers
        ],
    )
    found = stored_profile(db, NOW, 7.0)
    assert found.profile.mean(12) == pytest.approx((500.0 + 1e30) / 2)
    assert [h for h, m in enumerate(found.profile.means) if m is not None] == [12]
    assert found.skipped == 4  # NaN, Infinity, not JSON, torn


def test_sql_profile_holds_no_rows_in_python_memory(tmp_path):
    """Python's allocations during the SQL path stay tiny where decoding the same records takes
    tens of MB (SQLite's own memory is not traced: its cache and sorter are bounded by it)."""
    rows = [
        (f"mppt{d}", NOW - 3 * DAY + i, True, {"pv_power": float(i % 700), "pv_voltage": 60.0})
        for i in range(0, 3 * 86400, 20)
        for d in (1, 2)
    ]
    db = _db(tmp_path, rows)
    del rows
    tracemalloc.start()
    try:
        found = stored_profile(db, NOW, 7.0)
        _, sql_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        expected = _python_profile(db, NOW, 7.0, 0.0)
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _assert_same(found.profile, expected)
    assert python_peak > 5e6  # the check can fail: decoding 25,920 records is not small
    assert sql_peak < 200e3, f"SQL path allocated {sql_peak} B in Python"
