"""A simulated month of one clinic's data, written into a real database as the daemon does.

Two devices publishing one record a minute: `mppt` (pv_power, load_power, charger_state) and
`bmv` (battery_voltage, battery_current, battery_soc, battery_temperature), driven by a simple
energy balance on a 200 Ah 24 V battery. Known patterns, all deterministic:
- solar days (half-sine 06:00-18:00, a clouded day every 7th day);
- a 2-day gap: nothing recorded on GAP_DAYS (the PiBox was off);
- a clock jump on JUMP_DAY at 12:00: a reboot restores a clock 30 min slow (records unsynced,
  ts going backwards), then NTP sets it right at 12:45 (a forward jump, i.e. a gap);
- a deep discharge: two dark days (DARK_DAYS) that take the SOC below 20 %;
- afternoons above 40 °C in the battery room.
Health rows (pibox, openclinic, glasses, uplink) every 5 min and a few alarms go into the
`health` and `alarms` tables. Records are inserted with SQL into `records` (the table the
report reads), the schema created by `telemetry.store.open_db`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from maintenance.report.month import bounds
from telemetry.store import open_db
from telemetry.stored_metrics import encode

MONTH = "2026-10"
GAP_DAYS = (10, 11)
JUMP_DAY = 20
DARK_DAYS = (25, 26)
CAPACITY_AH = 200.0
HEALTH_EVERY = 300


@dataclass
class SiteMonth:
    path: Path
    records: int = 0
    health: list[dict] = field(default_factory=list)
    alarms: list[dict] = field(default_factory=list)


def _pv_w(ts: float, day: int) -> float:
    hour = (ts % 86400) / 3600.0
    if not 6.0 < hour < 18.0 or day in DARK_DAYS:
        return 0.0
    cloud = 0.35 if day % 7 == 0 else 1.0
    return round(900.0 * cloud * math.sin(math.pi * (hour - 6.0) / 12.0), 1)


def _load_w(ts: float) -> float:
    hour = (ts % 86400) / 3600.0
    return 260.0 if 8.0 <= hour < 17.0 else 70.0


def _stamp(true_ts: float, day: int) -> tuple[float, bool] | None:
    """(stored ts, clock synced) for a minute at true time `true_ts`, None when not recorded."""
    if day in GAP_DAYS:
        return None
    hour = (true_ts % 86400) / 3600.0
    if day == JUMP_DAY and 12.0 <= hour < 12.75:
        return true_ts - 1800.0, False
    return true_ts, True


def _minute(ts: float, day: int, soc: float) -> tuple[dict, dict, float]:
    pv, load = _pv_w(ts, day), _load_w(ts)
    volts = 24.0 + 3.0 * soc / 100.0
    current = (pv - load) / volts
    if soc >= 100.0 and current > 0:
        current = 0.0
    soc = min(100.0, max(0.0, soc + 100.0 * current / 60.0 / CAPACITY_AH))
    state = "off" if pv == 0 else ("float" if soc >= 100.0 else "bulk")
    hour = (ts % 86400) / 3600.0
    temp = 31.0 + 11.0 * math.sin(math.pi * (hour - 8.0) / 12.0) if 8 < hour < 20 else 28.0
    mppt = {"pv_power": pv, "load_power": load, "charger_state": state}
    bmv = {
        "battery_voltage": round(volts, 3),
        "battery_current": round(current, 3),
        "battery_soc": round(soc, 1),
        "battery_temperature": round(temp, 2),
    }
    return mppt, bmv, soc


def write_month(path: Path, month: str = MONTH, empty: bool = False) -> SiteMonth:
    """Create the database at `path` and fill it with the month (and its last prior minutes)."""
    db = open_db(path)
    start, end = bounds(month)
    site = SiteMonth(Path(path))
    soc, rows = 80.0, []
    for ts in range(start - 600, end, 60) if not empty else ():
        day = 0 if ts < start else (ts - start) // 86400 + 1
        mppt, bmv, soc = _minute(ts, day, soc)
        stamp = _stamp(float(ts), day)
        if stamp is None:
            continue
        rows += [
            ("mppt", stamp[0], stamp[1], 12, encode(mppt)),
            ("bmv", stamp[0], stamp[1], 60, encode(bmv)),
        ]
    with db.conn:
        db.conn.execute("BEGIN")
        db.conn.executemany(
            "INSERT INTO records (device, ts, synced, samples, last_seq, metrics)"
            " VALUES (?, ?, ?, ?, 0, ?)",
            rows,
        )
        if not empty:
            _health(db, site, start, end)
            _alarms(db, site, start)
        db.conn.execute("COMMIT")
    site.records = len(rows)
    db.conn.close()
    return site


def _health(db, site: SiteMonth, start: int, end: int) -> None:
    sessions = hours = 0.0
    for ts in range(start, end, HEALTH_EVERY):
        day = (ts - start) // 86400 + 1
        if day in GAP_DAYS:
            continue
        hour = (ts % 86400) / 3600.0
        seen = day % 3 != 0 and 9.0 <= hour < 16.0
        hours += HEALTH_EVERY / 3600.0 if seen else 0.0
        sessions += 1 if seen and hour == 9.0 else 0
        bytes_month = (ts - start) * 20
        rows = [
            (
                "pibox",
                True,
                {
                    "uptime_s": ts - start,
                    "disk_used_percent": 40.0 + day * 0.1,
                    "under_voltage_now": day in DARK_DAYS and hour < 1.0,
                },
            ),
            ("openclinic", day != 15, {"status": "failed" if day == 15 else "ok"}),
            ("glasses", seen, {"seen": seen, "charge_sessions": sessions, "hours_of_use": hours}),
            ("uplink", True, {"bytes_month": bytes_month, "budget_bytes": 2_000_000_000}),
        ]
        for component, ok, values in rows:
            site.health.append({"component": component, "ts": ts, "ok": ok, "values": values})
            db.conn.execute(
                "INSERT INTO health (component, ts, ok, vals) VALUES (?, ?, ?, ?)",
                (component, ts, ok, json.dumps(values)),
            )


def _alarms(db, site: SiteMonth, start: int) -> None:
    day = 86400
    site.alarms = [
        dict(
            alarm_id="battery_low.bmv",
            rule="battery_low",
            subject="bmv",
            severity="critical",
            active=0,
            since=start + 25 * day,
            cleared=start + 27 * day,
            acked_at=start + 25 * day + 600,
            message="Batterie faible",
            message_en="Battery low",
        ),
        dict(
            alarm_id="disk.pibox",
            rule="disk",
            subject="pibox",
            severity="warning",
            active=1,
            since=start + 30 * day,
            cleared=None,
            acked_at=None,
            message="Disque plein",
            message_en="Disk full",
        ),
        dict(
            alarm_id="old.pibox",
            rule="old",
            subject="pibox",
            severity="warning",
            active=0,
            since=start - 5 * day,
            cleared=start - 4 * day,
            acked_at=None,
            message="Ancienne",
            message_en="Old",
        ),
    ]
    for a in site.alarms:
        db.conn.execute(
            f"INSERT INTO alarms ({', '.join(a)}) VALUES ({', '.join('?' * len(a))})",
            tuple(a.values()),
        )


EQUIPMENT = [
    {
        "item": "panels",
        "category": "solar_panels",
        "purchase_cost": 1_200_000,
        "expected_life_years": 20,
        "install_date": "2024-01-15",
        "measured_by": "mppt",
    },
    {
        "item": "battery",
        "category": "battery_bank",
        "purchase_cost": 900_000,
        "expected_life_years": 5,
        "chemistry": "lifepo4",
        "capacity_ah": CAPACITY_AH,
        "measured_by": "bmv",
        "install_date": "2024-01-15",
    },
    {
        "item": "glasses",
        "category": "smart_glasses",
        "purchase_cost": 1_500_000,
        "expected_life_years": 3,
        "measured_by": "glasses",
        "install_date": "2025-06-01",
    },
    {
        "item": "pibox",
        "category": "pibox",
        "purchase_cost": 150_000,
        "expected_life_years": 4,
        "measured_by": "pibox",
        "install_date": "2022-09-01",
    },
]
"""The simulated site's registry, as the `[[equipment]]` tables of its config."""
