"""The cost of the power-aware scheduling in the daemon (issue 6), on this machine.

1. CPU per decision tick. The daemon's real objects, as `edged.power.service` wires them: a
   Config from `edged.config.parse` (one VE.Direct device, a backup and a sync job, a
   `[shedding]` table), a running `telemetry.writer.Writer` on a temporary database, no
   publisher, an `EnergyView` fed with live samples, a `JobSupervisor` (its `on_health` on the
   `AlarmService`, as in the daemon) and a `SheddingService`. The battery is kept below the
   jobs' floor and above the shedding levels, so no job starts: this measures the deciding,
   never a subprocess. `time.process_time` counts every thread of the process (the Writer's
   idle loop included). The `power_events` rows written must be few: one per reason change,
   not one per minute (the SD card pays per write).
2. Why `edged.power.jump_safe_trigger`: APScheduler 3 enumerates every missed run time one by one
   after a forward wall-clock jump (`Job._get_run_times`, private, what its scheduler loop
   calls) before coalescing them. Timed on a real, unstarted `BackgroundScheduler` for the
   stock `IntervalTrigger(seconds=60)` over jumps of 1, 30 and 365 days (seconds without
   tracemalloc, then peak memory in a second run under tracemalloc), extrapolated linearly to
   the 56-year jump of a 1970 boot clock set by NTP; and `JumpSafeInterval(60)` over the whole
   56 years.

    .venv/bin/python bench/bench_power.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tomllib
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from edged.config.loader import parse
from edged.power.energy_view import EnergyView
from edged.power.jobs.supervisor import JobSupervisor
from edged.power.jump_safe_trigger import JumpSafeInterval
from edged.power.shedding import SheddingService
from edged.readings import Sample
from edged.services.alarms import AlarmService
from telemetry.writer import Writer

CONFIG = """
[site]
id = "kati"
[storage]
path = "{db}"
[[devices]]
id = "mppt"
driver = "vedirect"
port = "/dev/ttyUSB0"
[[jobs]]
name = "backup"
kind = "backup"
command = ["/usr/bin/true"]
max_duration = 1800
power_w = 8
windows = [["00:00", "24:00"]]
min_soc = 60
[[jobs]]
name = "sync"
kind = "sync"
command = ["/usr/bin/true"]
max_duration = 900
power_w = 6
windows = [["00:00", "12:00"], ["12:00", "24:00"]]
min_soc = 55
[power]
battery = "mppt"
capacity_wh = 2400
[shedding]
warn_soc = 30
warn_recover_soc = 40
stop_soc = 20
stop_recover_soc = 30
services = ["tomcat9.service"]
"""
LIVE = {"battery_soc": 35.0, "battery_voltage": 12.4, "pv_power": 140.0, "charger_state": "bulk"}
"""Below both jobs' floors, the urgent one too (40 %: never run, so they are overdue), above the
shedding's warn level (30 %); windows span the day, so the reason is the floor."""
NTP_JUMP = (datetime(1970, 1, 1, 0, 0, 42, tzinfo=UTC), datetime(2026, 6, 1, 9, 0, tzinfo=UTC))


def decision_cost(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = parse(tomllib.loads(CONFIG.format(db=root / "edged.db")))
        writer = Writer(root / "edged.db", 60.0, 3600.0)
        writer.start()
        try:
            energy = EnergyView(config)
            for i in range(5):
                energy.observe(Sample("mppt", time.time() - 5 + i, True, dict(LIVE)))
            alarms = AlarmService(config, writer, None)
            supervisor = JobSupervisor(
                config,
                config.jobs,
                writer,
                None,
                energy,
                lambda: True,
                root / "locks",
                root / "reports",
            )
            supervisor.on_health = alarms.observe_health
            shedding = SheddingService(
                config, writer, None, energy, alarms, supervisor, lambda: True
            )
            names = list(supervisor.slots)
            job_cpu, shed_cpu, decisions = _time_ticks(supervisor, shedding, names, rounds)
            writer.flush()
            events = writer.call(
                lambda db: db.execute(
                    "SELECT kind, subject, code, count(*) FROM power_events GROUP BY 1, 2, 3"
                ).fetchall()
            )
            runs = writer.call(lambda db: db.execute("SELECT count(*) FROM job_runs").fetchone())
        finally:
            writer.stop()
    if runs[0] or any(slot.process for slot in supervisor.slots.values()):
        raise SystemExit(f"a job started: {events}; this bench measures deciding only")
    print(
        f"decision ticks: {rounds} rounds x ({len(names)} jobs + shedding), "
        f"{os.cpu_count()} cores, no job started"
    )
    print(f"  job decision (supervisor.tick)     {job_cpu * 1e6:8.1f} µs CPU  {decisions}")
    print(
        f"  shedding decision (shedding.tick)  {shed_cpu * 1e6:8.1f} µs CPU  "
        f"level {shedding.level.value}"
    )
    total = sum(row[3] for row in events)
    print(f"  power_events rows over {rounds} rounds (+1 warm-up): {total}")
    for kind, subject, code, n in events:
        print(f"    {kind:<8} {subject:<8} {code:<14} {n}")


def _time_ticks(supervisor, shedding, names, rounds):
    """CPU seconds per job decision and per shedding decision; the last reason of each job."""
    for name in names:  # warm-up: the first decision of each job is noted (its row)
        supervisor.tick(name)
    shedding.tick()
    start = time.process_time()
    for _ in range(rounds):
        for name in names:
            supervisor.tick(name)
    job_cpu = (time.process_time() - start) / (rounds * len(names))
    start = time.process_time()
    for _ in range(rounds):
        shedding.tick()
    shed_cpu = (time.process_time() - start) / rounds
    reasons = ", ".join(f"{n}: {supervisor.slots[n].decision.reason_code.value}" for n in names)
    return job_cpu, shed_cpu, reasons


def run_times(trigger: BaseTrigger, before: datetime, after: datetime) -> tuple[int, float]:
    """(how many run times APScheduler enumerates after the jump, seconds it takes)."""
    scheduler = BackgroundScheduler(timezone=UTC)
    job = scheduler.add_job(print, trigger, next_run_time=before)
    start = time.perf_counter()
    count = len(job._get_run_times(after))
    return count, time.perf_counter() - start


def peak_bytes(trigger: BaseTrigger, before: datetime, after: datetime) -> int:
    scheduler = BackgroundScheduler(timezone=UTC)
    job = scheduler.add_job(print, trigger, next_run_time=before)
    tracemalloc.start()
    try:
        job._get_run_times(after)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def trigger_cost() -> None:
    after = NTP_JUMP[1]
    years = (after - NTP_JUMP[0]) / timedelta(days=365.25)
    print(f"\nrun times enumerated after a forward clock jump to {after:%Y-%m-%d} (tick 60 s)")
    print(f"  {'trigger':<22} {'jump':>10} {'run times':>11} {'seconds':>9} {'peak MB':>9}")
    per_time = per_byte = 0.0
    for days in (1, 30, 365):
        before = after - timedelta(days=days)
        count, seconds = run_times(IntervalTrigger(seconds=60), before, after)
        peak = peak_bytes(IntervalTrigger(seconds=60), before, after)
        per_time, per_byte = seconds / count, peak / count
        print(
            f"  {'IntervalTrigger':<22} {f'{days} d':>10} {count:>11,} {seconds:>9.3f}"
            f" {peak / 1e6:>9.1f}"
        )
    count = int((after - NTP_JUMP[0]).total_seconds() // 60) + 1
    print(
        f"  {'IntervalTrigger':<22} {f'{years:.1f} y':>10} {count:>11,}"
        f" {count * per_time:>9.0f} {count * per_byte / 1e6:>9.0f}"
        "  (extrapolated linearly from 365 d)"
    )
    count, seconds = run_times(JumpSafeInterval(60), *NTP_JUMP)
    peak = peak_bytes(JumpSafeInterval(60), *NTP_JUMP)
    print(
        f"  {'JumpSafeInterval':<22} {f'{years:.1f} y':>10} {count:>11,} {seconds:>9.6f}"
        f" {peak / 1e6:>9.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000, help="decision rounds to time")
    args = parser.parse_args()
    decision_cost(args.rounds)
    trigger_cost()


if __name__ == "__main__":
    main()
