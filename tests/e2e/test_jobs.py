"""Power-aware jobs end to end, all real: a controller on a pty whose SOC the test sets ->
`edged run` (subprocess) -> real job subprocesses (the OpenClinic backup script on a real SQLite
dump) -> job_runs rows, retained P/job/{name} and P/event/job on mosquitto.

Success, failure, timeout, stop and suspend on low SOC, load shedding with real service
commands, and `edged backup --now` / `edged schedule` against the running daemon.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.peers import faketime
from tests.peers.daemon import db_rows, write_config
from tests.peers.energy_pty import EnergyPty
from tests.peers.replay import wait_until
from tests.peers.subscriber import Subscriber

ROOT = Path(__file__).resolve().parents[2]
BACKUP_SCRIPT = ROOT / "scripts" / "backup-openclinic"
PREFIX = "jobs"
P = f"{PREFIX}/test-site"


def config(
    workdir: Path,
    port: Path,
    broker_port: int | None,
    jobs: str,
    extra: str = "",
    auto_report: bool = False,
) -> Path:
    (workdir / "synced").touch()  # systemd-timesyncd's flag: the clock is synchronised
    power = (
        f"[power]\ncapacity_wh = 2400\ntick = 0.5\ntimesync_flag = "
        f'"{workdir / "synced"}"\nauto_report = {str(auto_report).lower()}\n\n'
        f"[health]\nenabled = false\n\n{extra}\n"
    )
    devices = f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{port}"\n\n'
    path = write_config(
        workdir, devices=devices + jobs, broker_port=broker_port, prefix=PREFIX, extra=power
    )
    text = path.read_text().replace(
        "[storage]\n", f'[storage]\nreports_dir = "{workdir}/reports"\n'
    )
    path.write_text(text)
    return path


def job(name: str, command: list[str], max_duration: float = 30, **extra) -> str:
    extra.setdefault("windows", [["00:00", "24:00"]])
    keys = "".join(f"{k} = {json.dumps(v)}\n" for k, v in extra.items())
    return (
        f'[[jobs]]\nname = "{name}"\nkind = "backup"\ncommand = {json.dumps(command)}\n'
        f"max_duration = {max_duration}\npower_w = 5\n{keys}\n"
    )


def runs(workdir: Path) -> list[tuple]:
    return db_rows(
        workdir / "edged.db",
        "SELECT job, outcome, exit_code, trigger, reason_en, output_tail FROM job_runs ORDER BY id",
    )


def clinic_database(workdir: Path) -> Path:
    """A real SQLite database standing in for OpenClinic's MariaDB."""
    db = workdir / "openclinic.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO patients (name) VALUES (?)", [("Awa",), ("Moussa",)])
    return db


def test_backup_runs_once_is_recorded_and_published(tmp_path, broker, daemons):
    dest = tmp_path / "usb"
    dest.mkdir()
    clinic = clinic_database(tmp_path)
    command = [
        str(BACKUP_SCRIPT),
        "--dest",
        str(dest),
        "--dump-command",
        f"sqlite3 {clinic} .dump",
        "--files",
        str(tmp_path / "docs"),
    ]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "scan.txt").write_text("ordonnance")
    sub = Subscriber("127.0.0.1", broker.port, f"{P}/#").start()
    with EnergyPty(soc=95.0) as pty:
        d = daemons(config(tmp_path, pty.path, broker.port, job("backup", command)))
        wait_until(lambda: runs(tmp_path), 30, what="a job_runs row")
        retained = sub.wait_for(
            lambda m: m.topic == f"{P}/job/backup" and json.loads(m.payload)["last"] is not None, 10
        )
        ticks = _ticks(tmp_path)
        wait_until(lambda: _ticks(tmp_path) >= ticks + 4, 15, what="more policy ticks")
        d.terminate()
    [(name, outcome, code, trigger, _reason, tail)] = runs(tmp_path)
    assert (name, outcome, code, trigger) == ("backup", "success", 0, "schedule")
    assert "progress: 100" in tail
    [backup] = [p for p in dest.glob("openclinic-*") if not p.name.endswith(".partial")]
    dump = subprocess.run(
        ["gunzip", "-c", str(backup / "database.sql.gz")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "Moussa" in dump
    last = json.loads(retained[-1].payload)["last"]
    assert last["outcome"] == "success" and last["job"] == "backup"
    events = [json.loads(m.payload) for m in sub.received(lambda m: m.topic == f"{P}/event/job")]
    events = [e for e in events if e["action"] != "wait"]  # no reading yet at the first tick
    assert [e["action"] for e in events][:2] == ["start", "end"]
    assert events[0]["code"] == "start_urgent"  # never done: overdue, urgent floor
    waits = db_rows(tmp_path / "edged.db", "SELECT code FROM power_events WHERE kind = 'job'")
    assert ("wait_done",) in waits  # after the run: done, not again (once per reason change)
    assert waits.count(("wait_done",)) == 1
    sub.stop()


def _ticks(workdir: Path) -> int:
    return sum(_live(workdir).get("ticks", {}).values())


@pytest.mark.parametrize(
    ("command", "max_duration", "outcome", "code"),
    [
        (["sh", "-c", "echo disque plein >&2; exit 3"], 30, "failed", 3),
        (["sh", "-c", "echo progress: 10; exec sleep 60"], 1.5, "timeout", -15),
    ],
    ids=["failure", "timeout"],
)
def test_failure_and_timeout_are_recorded_and_published(
    tmp_path, broker, daemons, command, max_duration, outcome, code
):
    sub = Subscriber("127.0.0.1", broker.port, f"{P}/job/sync").start()
    with EnergyPty(soc=95.0) as pty:
        d = daemons(config(tmp_path, pty.path, broker.port, job("sync", command, max_duration)))
        wait_until(lambda: runs(tmp_path), 30, what="a job_runs row")
        [message] = sub.wait_for(lambda m: json.loads(m.payload)["last"] is not None, 10)
        ticks = _ticks(tmp_path)  # a failed run is retried after 5 min, not at every tick
        wait_until(lambda: _ticks(tmp_path) >= ticks + 4, 15, what="more policy ticks")
        d.terminate()
    codes = db_rows(tmp_path / "edged.db", "SELECT code FROM power_events WHERE kind = 'job'")
    assert ("wait_retry",) in codes
    [(name, got, exit_code, _trigger, reason, tail)] = runs(tmp_path)
    assert (name, got, exit_code) == ("sync", outcome, code)
    last = json.loads(message.payload)["last"]
    assert (last["outcome"], last["exit_code"], last["reason_en"]) == (got, exit_code, reason)
    if outcome == "failed":
        assert "disque plein" in tail and "exit code 3" in reason
    else:
        assert "Duration limit" in reason
    sub.stop()


def test_low_soc_stops_a_running_job_and_suspend_resumes_one(tmp_path, broker, daemons):
    stop_cmd = ["sh", "-c", "echo progress: 5; exec sleep 60"]
    suspend_cmd = ["sh", "-c", "for i in $(seq 1 20); do echo progress: $((i*5)); sleep 0.4; done"]
    jobs = job("stopper", stop_cmd) + job("pauser", suspend_cmd, on_low_battery="suspend")
    sub = Subscriber("127.0.0.1", broker.port, f"{P}/job/#").start()
    with EnergyPty(soc=95.0) as pty:
        d = daemons(config(tmp_path, pty.path, broker.port, jobs))
        wait_until(
            lambda: _state(tmp_path, "stopper") == _state(tmp_path, "pauser") == "running",
            30,
            what="both jobs running",
        )
        pty.set(soc=35.0)  # below the urgent floor of 40 %
        wait_until(lambda: _state(tmp_path, "pauser") == "suspended", 15, what="suspended")
        wait_until(lambda: runs(tmp_path), 15, what="stopper recorded")
        pty.set(soc=90.0)
        wait_until(lambda: any(r[0] == "pauser" for r in runs(tmp_path)), 30, what="pauser done")
        d.terminate()
    by_job: dict[str, tuple] = {}
    for row in runs(tmp_path):
        by_job.setdefault(row[0], row)  # each job's first run (the stopper runs again at 90 %)
    assert by_job["stopper"][1] == "stopped_low_battery"
    assert "floor" in by_job["stopper"][4]
    assert by_job["pauser"][1] == "success"
    states = [
        json.loads(m.payload)["state"] for m in sub.received(lambda m: m.topic == f"{P}/job/pauser")
    ]
    assert "suspended" in states
    stopper = [
        json.loads(m.payload)["last"] for m in sub.received(lambda m: m.topic == f"{P}/job/stopper")
    ]
    assert any(last and last["outcome"] == "stopped_low_battery" for last in stopper)
    # its progress never moved: one message when it started and one when it ended, per run,
    # not one per 0.5 s tick while it ran (the metered uplink)
    runs_of_stopper = sum(1 for r in runs(tmp_path) if r[0] == "stopper")
    assert len(stopper) <= 2 * runs_of_stopper + 1, len(stopper)
    sub.stop()


def _live(workdir: Path) -> dict:
    """The daemon's live view (written every second while a job runs, else every 5 s)."""
    try:
        return json.loads((workdir / "live.json").read_text()).get("power") or {}
    except (OSError, ValueError):
        return {}


def _job(workdir: Path, name: str) -> dict:
    return next((j for j in _live(workdir).get("jobs") or [] if j["job"] == name), {})


def _last(workdir: Path, name: str) -> dict | None:
    return _job(workdir, name).get("last")


def _state(workdir: Path, name: str) -> str | None:
    return _job(workdir, name).get("state")


def test_load_shedding_stops_and_restarts_services_then_shuts_down(tmp_path, broker, daemons):
    log = tmp_path / "services.log"
    shedding = (
        f'[shedding]\nservices = ["openclinic", "mariadb"]\nshutdown_soc = 10\n'
        f"shutdown_recover_soc = 25\n"
        f'stop_command = ["sh", "-c", "echo stop {{service}} >> {log}"]\n'
        f'start_command = ["sh", "-c", "echo start {{service}} >> {log}"]\n'
        f'shutdown_command = ["sh", "-c", "echo poweroff >> {log}"]\n'
    )
    sub = Subscriber("127.0.0.1", broker.port, f"{P}/#").start()

    def is_level(m, level: str) -> bool:
        return m.topic == f"{P}/power/shedding" and json.loads(m.payload)["level"] == level

    def reached(level: str) -> None:
        """A new message at `level` (the state announced at start is one already: count on)."""
        seen = len(sub.received(lambda m: is_level(m, level)))
        sub.wait_for(lambda m: is_level(m, level), 20, count=seen + 1)

    with EnergyPty(soc=80.0) as pty:
        d = daemons(config(tmp_path, pty.path, broker.port, "", extra=shedding))
        wait_until(lambda: _level(tmp_path) == "normal", 20, what="daemon deciding")
        pty.set(soc=18.0)
        reached("stop_services")
        sub.wait_for(lambda m: m.topic == f"{P}/alarm/power_services_stopped.power", 10)
        pty.set(soc=45.0)  # above both recovery thresholds: back to normal, services restarted
        reached("normal")
        pty.set(soc=9.0)
        reached("shutdown")
        wait_until(lambda: "poweroff" in log.read_text(), 20, what="shutdown command")
        d.terminate()
        # the box boots again (systemd started the services) on a battery still low: edged
        # remembers the level, stops the services again, and does not shut down in a loop
        again = daemons(config(tmp_path, pty.path, broker.port, "", extra=shedding))
        wait_until(lambda: log.read_text().count("stop openclinic") == 3, 20, what="re-stopped")
        pty.set(soc=45.0)
        wait_until(lambda: log.read_text().count("start openclinic") == 2, 20, what="restarted")
        again.terminate()
    lines = log.read_text().split("\n")
    assert lines[:4] == ["stop openclinic", "stop mariadb", "start mariadb", "start openclinic"]
    assert lines[4:7] == ["stop openclinic", "stop mariadb", "poweroff"]  # services first
    assert lines[7:11] == ["stop openclinic", "stop mariadb", "start mariadb", "start openclinic"]
    assert lines.count("poweroff") == 1
    levels = [
        json.loads(m.payload)["level"]
        for m in sub.received(lambda m: m.topic == f"{P}/power/shedding")
    ]
    # the state at start (retained, maybe twice: "no data", then the first reading), then
    # each step; the second start announces its level too
    steps = [x for i, x in enumerate(levels) if i == 0 or x != levels[i - 1]]
    assert steps[:5] == ["normal", "stop_services", "normal", "stop_services", "shutdown"]
    events = db_rows(tmp_path / "edged.db", "SELECT kind, subject, action FROM power_events")
    assert ("service", "mariadb", "start") in events
    assert ("shedding", "shutdown", "shutdown") in events
    sub.stop()


def test_shedding_state_is_retained_for_a_dashboard_that_subscribes_later(
    tmp_path, broker, daemons
):
    """`P/power/shedding` was published only on a change: a dashboard subscribing after the
    start had no shedding state until the battery moved a level. It is retained from the first
    decision; a late subscriber gets it at once, with the retain flag."""
    with EnergyPty(soc=80.0) as pty:
        d = daemons(config(tmp_path, pty.path, broker.port, "", extra="[shedding]\n"))
        wait_until(lambda: _live_code(tmp_path) == "shed_normal", 30, what="a decision on data")
        sub = Subscriber("127.0.0.1", broker.port, f"{P}/power/shedding").start()
        try:
            first = sub.wait_for(lambda m: m.topic == f"{P}/power/shedding", 20)[0]
            got = sub.wait_for(lambda m: json.loads(m.payload)["code"] == "shed_normal", 20)[-1]
        finally:
            sub.stop()
        d.terminate()
    body = json.loads(got.payload)
    assert first.retain and got.retain and body["level"] == "normal"
    assert body["message"] and body["message_en"]  # the reason, in both languages
    events = db_rows(tmp_path / "edged.db", "SELECT kind FROM power_events")
    assert ("shedding",) not in events  # announcing the state is not a step


def _live_code(workdir: Path) -> str | None:
    return (_live(workdir).get("shedding") or {}).get("code")


def _level(workdir: Path) -> str | None:
    return (_live(workdir).get("shedding") or {}).get("level")


def edged(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edged", *args], capture_output=True, text=True, timeout=timeout
    )


def test_backup_now_through_the_daemon_and_standalone_and_schedule(tmp_path, daemons):
    slow = ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do echo progress: $((i*12)); sleep 0.5; done"]
    cfg = config(tmp_path, "/dev/null", None, job("backup", slow, windows=[["03:00", "03:01"]]))
    with EnergyPty(soc=95.0) as pty:
        cfg.write_text(cfg.read_text().replace('port = "/dev/null"', f'port = "{pty.path}"'))
        d = daemons(cfg)
        wait_until(lambda: _state(tmp_path, "backup") == "idle", 20, what="daemon up")
        schedule = edged("schedule", "--config", str(cfg))
        assert schedule.returncode == 0
        assert "hors des plages horaires permises (03:00-03:01)" in schedule.stdout
        pty.set(soc=30.0)  # below the urgent floor: a technician's start is refused...
        wait_until(
            lambda: (_live(tmp_path).get("energy") or {}).get("soc") == 30.0,
            10,
            what="the daemon reading 30 %",
        )
        refused = edged("backup", "--now", "--config", str(cfg))
        assert refused.returncode == 1 and "sous le seuil" in refused.stdout, refused.stdout
        pty.set(soc=95.0)  # ...and accepted above it, outside the job's window
        wait_until(
            lambda: (_live(tmp_path).get("energy") or {}).get("soc") == 95.0,
            10,
            what="the daemon reading 95 %",
        )
        done = edged("backup", "--now", "--config", str(cfg))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "EN COURS" in done.stdout and "réussie" in done.stdout
        wait_until(lambda: _last(tmp_path, "backup"), 5, what="the live view showing the run")
        status = edged("status", "--details", "--config", str(cfg))
        assert "Tâches planifiées" in status.stdout and "réussie" in status.stdout
        d.terminate()
    alone = edged("backup", "--now", "--config", str(cfg), "--lang", "en")
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "daemon is not running" in alone.stdout and "success" in alone.stdout
    assert [(r[0], r[1], r[3]) for r in runs(tmp_path)] == [
        ("backup", "success", "manual"),
        ("backup", "success", "manual"),
    ]
    stopped = edged("schedule", "--config", str(cfg), "--lang", "en")
    assert "The daemon is not running" in stopped.stdout and "Last run: success" in stopped.stdout


def test_the_monthly_report_job_writes_the_files_and_publishes_the_summary(
    tmp_path, broker, daemons
):
    sub = Subscriber("127.0.0.1", broker.port, f"{P}/#").start()
    # The built-in job runs between 10:00 and 16:00: the daemon's clock reads today's noon
    # whatever the hour the suite runs at (libfaketime; the monotonic clock is left alone).
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    env = faketime.environment(tmp_path / "faketime.rc", f"{noon:%Y-%m-%d %H:%M:%S}")
    with EnergyPty(soc=95.0) as pty:
        d = daemons(config(tmp_path, pty.path, broker.port, "", auto_report=True), env)
        month = noon.replace(day=1) - timedelta(days=1)
        topic = f"{P}/report/{month:%Y-%m}"
        [message] = sub.wait_for(lambda m: m.topic == topic, 60)
        wait_until(lambda: runs(tmp_path), 10, what="the report's run stored")
        cfg = str(tmp_path / "edged.toml")  # nothing due now: a technician regenerates it
        again = edged("backup", "--now", "--job", "monthly-report", "--config", cfg)
        assert again.returncode == 0, again.stdout + again.stderr
        d.terminate()
    summary = json.loads(message.payload)
    assert summary["site"] == "test-site" and summary["month"] == f"{month:%Y-%m}"
    files = sorted(p.name for p in (tmp_path / "reports").iterdir())
    stem = f"report-test-site-{month:%Y-%m}"
    assert files == [f"{stem}.{ext}" for ext in ("csv", "html", "json", "pdf", "summary.json")]
    report = "monthly-report"
    assert [(r[0], r[1], r[3]) for r in runs(tmp_path)] == [
        (report, "success", "schedule"),
        (report, "success", "manual"),
    ]
    sub.stop()
