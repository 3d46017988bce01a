"""The running daemon builds its PV profile from the database it finds
(`telemetry.pv_hours`, on its own read-only connection) and shows it in the live view.

Real daemon (subprocess), real SQLite prefilled with yesterday's records of two chargers and a
stretch stamped before the clock was synchronised, a controller on a pty for live samples.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from telemetry.store import open_db
from tests.peers.daemon import write_config
from tests.peers.energy_pty import EnergyPty
from tests.peers.replay import wait_until

HOUR = 3600.0


def _prefill(db_path: Path, now: float) -> dict[int, float]:
    """Yesterday at 1-minute windows, in every hour but the two around now (live samples may
    land there); returns the expected mean per UTC hour."""
    db = open_db(db_path)
    day = now // 86400 * 86400 - 86400
    skip = {int(now // HOUR) % 24, int(now // HOUR - 1) % 24}
    expected, rows = {}, []
    for hour in range(24):
        if hour in skip:
            continue
        pv = 10.0 * hour
        expected[hour] = pv + 5.0  # mppt2 adds 5 W in every window
        for minute in range(60):
            ts = day + hour * HOUR + minute * 60
            rows.append(("mppt", ts, 1, json.dumps({"pv_power": pv})))
            rows.append(("mppt2", ts, 1, json.dumps({"pv_power": 5})))
            rows.append(("mppt", ts + 30, 0, json.dumps({"pv_power": 9999.0})))  # unsynced
    db.conn.execute("BEGIN")
    db.conn.executemany(
        "INSERT INTO records (device, ts, synced, samples, last_seq, metrics)"
        " VALUES (?, ?, ?, 60, 0, ?)",
        rows,
    )
    db.conn.execute("COMMIT")
    db.conn.close()
    return expected


def _profile(workdir: Path) -> dict | None:
    try:
        view = json.loads((workdir / "live.json").read_text())
    except (OSError, ValueError):
        return None
    return (view.get("power") or {}).get("pv_profile")


def test_the_daemon_profile_comes_from_the_stored_records(tmp_path, daemons):
    expected = _prefill(tmp_path / "edged.db", time.time())
    power = "[power]\ncapacity_wh = 2400\nauto_report = true\n\n[health]\nenabled = false\n"
    with EnergyPty(soc=95.0, pv_w=300.0) as pty:
        devices = f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{pty.path}"\n'
        d = daemons(write_config(tmp_path, devices=devices, broker_port=None, extra=power))
        profile = wait_until(
            lambda: (p := _profile(tmp_path)) and any(m is not None for m in p["means"]) and p,
            60,
            interval=0.5,
            what="a PV profile in the live view",
        )
        d.terminate()
    means = profile["means"]
    assert {h: means[h] for h in expected} == pytest.approx(expected)
    assert profile["skipped"] == 0
    assert "scheduled task pv-profile failed" not in d.logs()
