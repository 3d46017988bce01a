"""`edged backup --now` as a real command: a standalone run (no daemon) stopped by a dropped SSH
session (a real pty hang-up) or SIGTERM is stopped and recorded with no process of the job
left; the built-in report job runs standalone on an empty database; through a running daemon,
the command follows a scheduled run already in progress instead of waiting forever."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import termios
import time

import psutil
import pytest

from edged.power.jobs.lock import JobLock
from tests.e2e.test_jobs import _state, config, job
from tests.peers.daemon import db_rows
from tests.peers.energy_pty import EnergyPty
from tests.peers.replay import wait_until

SLOW = ["sh", "-c", "sleep 100 & echo progress: 10; wait"]  # the shell and a child of it


def _make_tty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # stdin (the pty) becomes the controlling terminal


def _read_until(fd: int, text: str, timeout: float = 20.0) -> str:
    seen, deadline = b"", time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{text!r} not shown; got {seen!r}"
        if select.select([fd], [], [], left)[0]:
            seen += os.read(fd, 4096)
    return seen.decode()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("how", ["hangup", "sigterm"])
def test_standalone_run_interrupted_is_stopped_and_recorded(tmp_path, how):
    cfg = config(tmp_path, "/dev/null", None, job("backup", SLOW, stop_grace=2))
    master, slave = os.openpty()
    cli = subprocess.Popen(
        [sys.executable, "-m", "edged", "backup", "--now", "--config", str(cfg)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=_make_tty,
    )
    os.close(slave)
    try:
        _read_until(master, "EN COURS")  # the command follows the job: it runs
        job_pids = [p.pid for p in psutil.Process(cli.pid).children(recursive=True)]
        assert len(job_pids) == 2  # sh and its sleep
        if how == "hangup":
            os.close(master)  # the SSH session drops: the kernel sends SIGHUP
        else:
            cli.send_signal(signal.SIGTERM)
        cli.wait(timeout=20)
    finally:
        if how != "hangup":
            os.close(master)
        if cli.poll() is None:
            cli.kill()
    assert all(_gone(pid) for pid in job_pids)
    [(outcome, trigger, reason)] = db_rows(
        tmp_path / "edged.db", "SELECT outcome, trigger, reason_en FROM job_runs"
    )
    assert (outcome, trigger) == ("stopped_shutdown", "manual")
    signame = "SIGHUP" if how == "hangup" else "SIGTERM"
    assert reason == f"The command was interrupted ({signame}" + (
        ": the SSH session dropped): job stopped." if how == "hangup" else "): job stopped."
    )
    assert JobLock(tmp_path / "locks", "backup").holder_pid() is None


def test_report_job_standalone_on_an_empty_database(tmp_path):
    report = (
        '[[jobs]]\nname = "monthly-report"\nkind = "report"\nmax_duration = 120\n'
        'power_w = 5\nwindows = [["00:00", "24:00"]]\n\n'
    )
    cfg = config(tmp_path, "/dev/null", None, report)
    assert not (tmp_path / "edged.db").exists()  # never ran: no database at all
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "edged",
            "backup",
            "--now",
            "--job",
            "monthly-report",
            "--config",
            str(cfg),
            "--lang",
            "en",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    month = out.stdout.split("Report of ")[1][:7]
    assert "monthly-report: success" in out.stdout
    [(outcome, kind, synced)] = db_rows(
        tmp_path / "edged.db", "SELECT outcome, kind, clock_synced FROM job_runs"
    )
    assert (outcome, kind, synced) == ("success", "report", 1)  # the config's timesync flag
    stem = f"report-test-site-{month}"
    files = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert files == [f"{stem}.{ext}" for ext in ("csv", "html", "json", "pdf", "summary.json")]
    summary = json.loads((tmp_path / "reports" / f"{stem}.summary.json").read_text())
    assert summary["month"] == month and summary["notes"] == ["no_data"]


def test_backup_now_follows_a_scheduled_run_already_in_progress(tmp_path, daemons):
    slow = ["sh", "-c", "for i in 1 2 3 4 5 6; do echo progress: $((i*15)); sleep 0.5; done"]
    with EnergyPty(soc=95.0) as pty:
        cfg = config(tmp_path, pty.path, None, job("backup", slow))
        daemons(cfg)
        wait_until(lambda: _state(tmp_path, "backup") == "running", 30, what="a scheduled run")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "edged",
                "backup",
                "--now",
                "--config",
                str(cfg),
                "--lang",
                "en",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "backup is already running: following the run in progress." in done.stdout
    assert "backup: success" in done.stdout
    rows = db_rows(tmp_path / "edged.db", "SELECT trigger, outcome FROM job_runs")
    assert rows == [("schedule", "success")]  # the request joined it, no second run


def test_standalone_refuses_to_run_when_its_result_could_not_be_stored(tmp_path):
    ran = tmp_path / "ran"
    cfg = config(tmp_path, "/dev/null", None, job("backup", ["touch", str(ran)]))
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "edged.db"), str(tmp_path)))  # a dir
    out = subprocess.run(
        [sys.executable, "-m", "edged", "backup", "--now", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        out.returncode == 2
        and "edged backup : la base de données ne peut pas être ouverte" in out.stderr
    )
    assert not ran.exists()
