"""Rollups keep what the report needs: rolled up hour by hour as the daemon would, the raw
records pruned, the report is the same; and the properties the design leans on hold."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edged.readings import Record
from maintenance.energy.battery_health import rainflow, reversals
from maintenance.report import stored_month
from maintenance.report.battery_figures import _segments
from maintenance.report.figures import build_report
from maintenance.report.month import bounds
from maintenance.report.registry import validate_equipment
from maintenance.report.rollups import DAY, from_rows, merge, rollup, to_rows
from telemetry.store import open_db
from telemetry.stored_metrics import record_from_row
from tests.peers.site_month import EQUIPMENT, MONTH, write_month

START, END = bounds(MONTH)


def test_rolled_up_day_by_day_then_pruned_the_report_is_the_same(tmp_path):
    path = tmp_path / "edged.db"
    write_month(path)
    items, _ = validate_equipment(EQUIPMENT)
    db = open_db(path)
    raw = stored_month.records(db, START, END, 60.0)
    from_raw = build_report(site="S", month=MONTH, records=raw, items=items)
    # The daemon's way: roll up each day as it ends (state carried over), keep the rows,
    # delete the records they cover.
    stored, state = [], None
    for day_start in range(START - DAY, END, DAY):
        rows = db.execute(
            "SELECT id, device, ts, synced, samples, metrics FROM records"
            " WHERE ts >= ? AND ts < ? ORDER BY id",
            (day_start, day_start + DAY),
        ).fetchall()
        hourly, state = rollup([record_from_row(r) for r in rows], state=state)
        stored += [json.dumps(row) for row in to_rows(hourly)]
        db.execute("DELETE FROM records WHERE ts < ?", (day_start + DAY,))
    assert db.execute("SELECT count(*) FROM records").fetchone()[0] == 0
    from_rollups = build_report(
        site="S", month=MONTH, rollups=from_rows(map(json.loads, stored)), items=items
    )
    assert dataclasses.replace(from_rollups, source="records") == from_raw
    assert from_raw.energy.pv_kwh and from_raw.batteries[0].dod_histogram


def test_rollup_is_idempotent_and_rows_round_trip():
    recs = [
        Record(
            "d",
            1000.0 + 60 * i,
            True,
            1,
            {
                "pv_power": 10.0 * i,
                "battery_soc": 50 + i % 7,
                "charger_state": "bulk" if i % 2 else "float",
            },
        )
        for i in range(200)
    ]
    first, second = rollup(recs)[0], rollup(recs)[0]
    assert to_rows(first) == to_rows(second)
    assert to_rows(from_rows(json.loads(json.dumps(to_rows(first))))) == to_rows(first)
    assert sum(r.states["bulk"] + r.states["float"] for r in first) == 199 * 60


def test_a_gap_is_not_integrated_and_a_jump_back_is_counted():
    recs = [
        Record("d", ts, True, 1, {"pv_power": 1000.0}) for ts in (0.0, 60.0, 600.0, 660.0, 300.0)
    ]
    (r,) = rollup(recs)[0]
    assert r.covered_s == 120.0 and r.gaps == 1 and r.clock_jumps == 1
    assert r.sums["pv_kwh"] == pytest.approx(1000.0 * 120 / 3.6e6)


socs = st.lists(
    st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 1)), min_size=2, max_size=300
)


@settings(max_examples=200, deadline=None)
@given(socs, st.integers(1, 120))
def test_turning_points_give_the_cycles_of_the_full_series(values, period_min):
    recs = [Record("b", 60.0 * i, True, 1, {"battery_soc": v}) for i, v in enumerate(values)]
    hourly = rollup(recs, period_s=60 * period_min)[0]
    (points,) = _segments(hourly)
    assert rainflow(reversals(points)) == rainflow(reversals(values))
    daily = merge(hourly, DAY)
    assert (
        to_rows(daily)[0]["soc_pieces"] == to_rows(rollup(recs, period_s=DAY)[0])[0]["soc_pieces"]
    )
