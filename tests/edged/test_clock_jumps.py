"""Wall-clock jumps on a Pi without RTC: the calendar neither storms, hangs nor repeats a job.

The trigger is checked against APScheduler's own run-time enumeration; the daemon is checked
for real: `edged run` under libfaketime (its wall clock driven by a control file, its monotonic
clock untouched, as on a Pi), a controller on a pty, a job that appends to a file. Scenarios of
issue 6: a boot at 1970 followed by NTP sync, and jumps of +1 day and -1 day.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from edged.power.jump_safe_trigger import JumpSafeInterval
from tests.peers import faketime
from tests.peers.daemon import DaemonProcess, db_rows, write_config
from tests.peers.energy_pty import EnergyPty
from tests.peers.replay import wait_until

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def run_times(trigger, last_fire: datetime, now: datetime) -> list[datetime]:
    """The run times APScheduler's own enumeration (`Job._get_run_times`) yields at `now`."""
    scheduler = BackgroundScheduler(timezone=UTC)
    job = scheduler.add_job(print, trigger, next_run_time=last_fire)
    return job._get_run_times(now)


def test_trigger_follows_the_interval_while_the_clock_is_steady():
    t = JumpSafeInterval(60)
    assert t.get_next_fire_time(None, T0) == T0
    assert t.get_next_fire_time(T0, T0 + timedelta(seconds=5)) == T0 + MINUTE
    late = T0 + timedelta(seconds=90)  # a tick that ran 30 s late keeps the cadence
    assert t.get_next_fire_time(T0 + MINUTE, late) == T0 + 2 * MINUTE


def test_forward_jump_gives_one_catch_up_not_a_storm():
    boot = datetime(1970, 1, 2, 10, 0, tzinfo=UTC)
    synced = boot + timedelta(days=365 * 56)
    assert len(run_times(JumpSafeInterval(60), boot, synced)) <= 2  # coalesced into one run
    # APScheduler's own trigger enumerates every missed minute (one day here: 56 years would
    # be 29 million datetimes, minutes of CPU on a Pi):
    stock = IntervalTrigger(seconds=60, timezone=UTC)
    assert len(run_times(stock, T0, T0 + timedelta(days=1))) == 1441


def test_backward_jump_fires_one_interval_from_now():
    t = JumpSafeInterval(60)
    back = T0 - timedelta(days=1)
    assert t.get_next_fire_time(T0, back) == back + MINUTE  # not T0 + 1 min, a day away


def _view(workdir: Path) -> dict:
    try:
        return json.loads((workdir / "live.json").read_text())
    except (OSError, ValueError):
        return {}


def _ticks(workdir: Path) -> int:
    return (_view(workdir).get("power") or {}).get("ticks", {}).get("job:backup", 0)


def _runs(workdir: Path) -> list[str]:
    path = workdir / "runs.txt"
    return path.read_text().split() if path.exists() else []


def _codes(workdir: Path) -> list[str]:
    """The power events' codes stored so far, oldest first."""
    rows = db_rows(workdir / "edged.db", "SELECT code FROM power_events ORDER BY id")
    return [code for (code,) in rows]


def _start(tmp_path: Path, start: str, synced: bool, pty: EnergyPty) -> DaemonProcess:
    if synced:
        (tmp_path / "synced").touch()
    extra = (
        f'[power]\ncapacity_wh = 2400\ntick = 2\ntimesync_flag = "{tmp_path / "synced"}"\n'
        f"auto_report = false\n\n"
        f"[health]\nenabled = false\n"
    )
    jobs = (
        f'[[jobs]]\nname = "backup"\nkind = "backup"\n'
        f'command = ["sh", "-c", "echo run >> {tmp_path / "runs.txt"}"]\n'
        f'max_duration = 60\nstop_grace = 5\npower_w = 5\nwindows = [["00:00", "24:00"]]\n'
    )
    devices = f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{pty.path}"\n\n{jobs}'
    cfg = write_config(tmp_path, devices=devices, broker_port=None, extra=extra)
    env = faketime.environment(tmp_path / "faketime.rc", start)
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log", env=env)
    daemon.start()
    return daemon


def _jump(tmp_path: Path, when: str, after: float) -> None:
    """Jump the daemon's clock to `when`; wait until its live view is written on that clock
    (the main loop did not hang) and its job ticks went on (the calendar did not hang)."""
    ticks = _ticks(tmp_path)
    faketime.set_time(tmp_path / "faketime.rc", when)
    target = datetime.strptime(when, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    wait_until(
        lambda: abs(_view(tmp_path).get("written", 0) - target) < 30,
        20,
        what=f"live view written on the new clock ({when})",
    )
    wait_until(lambda: _ticks(tmp_path) >= ticks + 3, 20, what="ticks after the jump")
    assert _ticks(tmp_path) <= ticks + 3 + after, "a storm of catch-up ticks"


def test_boot_at_1970_then_ntp_sync_runs_the_job_once(tmp_path):
    with EnergyPty(soc=95.0, pv_w=300.0, state="bulk") as pty:
        daemon = _start(tmp_path, "1970-01-02 10:00:00", synced=False, pty=pty)
        try:
            wait_until(lambda: _runs(tmp_path), 30, what="a run in full sun on an unsynced clock")
            (tmp_path / "synced").touch()  # NTP: systemd-timesyncd's flag, then the jump
            _jump(tmp_path, "2026-11-23 10:00:00", after=2)
            wait_until(lambda: "wait_done" in _codes(tmp_path), 30, what="a tick after the run")
            assert _runs(tmp_path) == ["run"], "the job ran again after the NTP jump"
            assert daemon.proc.poll() is None
        finally:
            daemon.terminate()
    assert "wall clock jumped" in daemon.logs()
    rows = db_rows(tmp_path / "edged.db", "SELECT outcome, clock_synced FROM job_runs")
    assert rows == [("success", 0)]  # dated on the unsynced clock, and marked so
    codes = [c for c in _codes(tmp_path) if c != "wait_no_data"]  # before the first reading
    assert codes[0] == "start_sun" and "wait_done" in codes


def test_jumps_of_a_day_forward_and_back_neither_repeat_nor_hang(tmp_path):
    with EnergyPty(soc=95.0) as pty:
        daemon = _start(tmp_path, "2026-11-23 10:00:00", synced=True, pty=pty)
        try:
            try:
                wait_until(lambda: _runs(tmp_path), 60, what="the first run")
            except AssertionError:
                rows = db_rows(tmp_path / "edged.db", "SELECT * FROM job_runs")
                events = db_rows(tmp_path / "edged.db", "SELECT * FROM power_events")
                raise AssertionError(f"no run: {rows} {events}\n{daemon.logs()[-3000:]}") from None
            _jump(tmp_path, "2026-11-24 10:00:30", after=2)
            _jump(tmp_path, "2026-11-23 10:01:00", after=2)
            assert _runs(tmp_path) == ["run"]
            nexts = (_view(tmp_path).get("power") or {}).get("next_runs", {})
            back = datetime(2026, 11, 23, 10, 1, tzinfo=UTC).timestamp()
            assert back <= nexts["job:backup"] <= back + 60  # re-anchored, not a day away
        finally:
            daemon.terminate()
    assert daemon.logs().count("wall clock jumped") >= 2
