"""edged.power.jobs.process on real subprocesses: output and progress, exit codes, stopping a whole
process group (children that ignore SIGTERM included), children left behind by a job that
exited, a job stuck in uninterruptible I/O (a frozen file system), suspend/resume, start
errors, the file lock across processes, and a JobResult row in a real database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from edged.power.jobs.lock import JobLock
from edged.power.jobs.process import JobProcess, JobResult, JobStartError, Outcome
from telemetry import store

PAUSE = threading.Event()  # never set: pauses that observe that nothing happens


@pytest.fixture
def sh():
    """Start `sh -c script` as a job; whatever a failed test left running is killed after it."""
    jobs: list[JobProcess] = []

    def start(script: str, **kwargs) -> JobProcess:
        jobs.append(JobProcess("test", ["sh", "-c", script], **kwargs))
        jobs[-1].start()
        return jobs[-1]

    yield start
    for job in jobs:
        job.terminate(grace=0.1)


def until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        PAUSE.wait(0.01)


def sleeping_children(pid: int) -> list[int]:
    """The pids of the job's `sleep` children (none while a fork has not exec'd yet)."""
    try:
        children = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if child.name() == "sleep":
                found.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def gone(pid: int) -> bool:
    """Dead: no such process, or a zombie waiting for init (it runs no more)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def frozen(pid: int) -> bool:
    """The whole group stopped. A shell caught in vfork() shows as disk-sleep until its stopped
    child execs: it runs no more than the child does."""
    leader = psutil.Process(pid)
    states = {p.status() for p in [leader, *leader.children(recursive=True)]}
    return psutil.STATUS_STOPPED in states and states <= {
        psutil.STATUS_STOPPED,
        psutil.STATUS_DISK_SLEEP,
    }


def test_success_keeps_output_tail_progress_and_last_line(sh):
    job = sh('echo hello; echo "progress: 50" >&2; echo done')
    assert job.wait(10) == 0
    assert job.poll() == 0
    assert job.output_tail == "hello\nprogress: 50\ndone\n"  # stderr merged, in order
    assert job.progress == 50.0
    assert job.last_line == "done"
    assert 0 < job.running_s < 10


def test_failure_exit_code_and_env_and_cwd(tmp_path, sh):
    job = sh(
        'echo "$EDGED_TEST_VAR in $(pwd)"; exit 3', cwd=str(tmp_path), env={"EDGED_TEST_VAR": "set"}
    )
    assert job.wait(10) == 3
    assert job.last_line == f"set in {tmp_path}"  # PATH still inherited: sh was found


def test_wait_times_out_while_running_and_terminate_stops_at_sigterm(sh):
    job = sh("sleep 100 & echo started; wait")
    until(lambda: job.last_line == "started")
    assert job.wait(0.05) is None
    assert job.poll() is None
    # the shell says "started" right after its fork: the child may not have exec'd sleep yet
    until(lambda: sleeping_children(job.pid))
    child = sleeping_children(job.pid)[0]
    assert not gone(child)
    began = time.monotonic()
    assert job.terminate(grace=30.0) == -signal.SIGTERM
    # no grace wasted: the group was gone at once, far from 30 s even on a loaded machine
    assert time.monotonic() - began < 10.0
    until(lambda: gone(child))
    assert job.terminate(grace=5.0) == -signal.SIGTERM  # safe when already ended


@pytest.mark.parametrize(
    ("script", "code"),
    [
        # the shell and its child both ignore SIGTERM
        ("trap '' TERM; sleep 100 & echo child $!; wait", -signal.SIGKILL),
        # the shell dies at SIGTERM, its child ignores it (a pipeline stage that lingers); the
        # child says its pid once it ignores SIGTERM
        ("""sh -c 'trap "" TERM; echo child $$; exec sleep 100' & wait""", -signal.SIGTERM),
    ],
)
def test_terminate_kills_the_group_after_grace(script, code, sh):
    job = sh(script)
    until(lambda: job.last_line.startswith("child "))
    child = int(job.last_line.split()[1])
    assert not gone(child)
    began = time.monotonic()
    assert job.terminate(grace=0.3) == code
    took = time.monotonic() - began
    assert 0.3 <= took < 10.0  # the grace kept, then SIGKILL at once (far from 10 s when loaded)
    until(lambda: gone(child))
    assert job.poll() == code


def test_suspend_freezes_running_time_and_output_then_resume_finishes(sh):
    job = sh("i=0; while [ $i -lt 30 ]; do echo line $i; i=$((i+1)); sleep 0.02; done; echo end")
    until(lambda: job.output_tail.count("line") >= 3)
    job.suspend()
    assert job.suspended
    until(lambda: frozen(job.pid))  # signals are delivered asynchronously
    PAUSE.wait(0.1)  # let the reader take what was already in the pipe
    running, output = job.running_s, job.output_tail
    PAUSE.wait(0.3)
    assert job.running_s == running
    assert job.output_tail == output
    assert job.poll() is None
    job.resume()
    assert not job.suspended
    began = time.monotonic()
    assert job.wait(10) == 0
    assert job.last_line == "end"
    assert job.running_s < running + (time.monotonic() - began) + 0.1  # the pause not counted


def test_terminate_while_suspended_kills_the_stopped_group(sh):
    job = sh("sleep 100 & echo started; wait")
    until(lambda: job.last_line == "started")
    job.suspend()
    assert job.terminate(grace=2.0) == -signal.SIGTERM
    assert not job.suspended


def test_start_errors_are_clear(tmp_path):
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    cases = [
        (["/nonexistent/backup"], {}, "command not found: '/nonexistent/backup'"),
        (["edged-no-such-command"], {}, "command not found: 'edged-no-such-command'"),
        ([str(script)], {}, f"command not executable: {str(script)!r}"),
        (["true"], {"cwd": str(tmp_path / "missing")}, "working directory not found"),
        ([], {}, "empty command"),
    ]
    for argv, kwargs, message in cases:
        job = JobProcess("test", argv, **kwargs)
        with pytest.raises(JobStartError, match=message):
            job.start()
        assert (job.poll(), job.wait(0), job.terminate(1), job.running_s) == (None, None, None, 0)
        assert job.output_tail == ""


def test_invalid_argv_or_env_is_a_start_error_that_shows_no_value():
    cases = [
        (["echo", "a\0b"], {}, "argument 1 contains a NUL character"),
        (["echo", 3], {}, "argument 1 is not a string but int"),
        (["true"], {"DUMP_PASSWORD": "se\0cret"}, "variable 'DUMP_PASSWORD' contains a NUL"),
        (["true"], {"A=B": "x"}, "variable 'A=B' contains a NUL character or '='"),
    ]
    for argv, env, message in cases:
        job = JobProcess("test", argv, env=env)
        with pytest.raises(JobStartError, match=message) as caught:
            job.start()
        assert "cret" not in str(caught.value)
        assert (job.poll(), job.terminate(1)) == (None, None)


def test_a_background_child_left_behind_is_stopped_before_the_exit_is_reported(sh):
    job = sh("sleep 100 >/dev/null 2>&1 & echo child $!")  # the child does not hold the pipe
    assert job.wait(10) == 0
    assert gone(int(job.output_tail.split()[1]))  # no `until`: gone before the exit was told
    assert job.output_tail.endswith("were stopped\n")


def test_a_left_child_that_ignores_sigterm_is_killed_after_stray_grace(tmp_path, sh):
    flag = tmp_path / "pid"
    script = (
        f"""sh -c 'trap "" TERM; echo $$ > {flag}.tmp; mv {flag}.tmp {flag};"""
        f""" exec sleep 100' & while [ ! -e {flag} ]; do sleep 0.01; done"""
    )
    began = time.monotonic()
    job = sh(script, stray_grace=0.3)
    assert job.wait(10) == 0
    assert 0.3 <= time.monotonic() - began < 3.0
    # SIGKILL is sent by then; the kernel takes its moment to end the process
    until(lambda: gone(int(flag.read_text())))


@pytest.fixture
def frozen_dir(tmp_path):
    """A directory on a frozen ext4 loop file system: a write there sleeps uninterruptibly
    (state D) until it is thawed, as a write to a USB disk that went away does."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mount, fsfreeze)")
    image, mnt = tmp_path / "fs.img", tmp_path / "mnt"
    mnt.mkdir()
    with image.open("wb") as f:
        f.truncate(16 << 20)
    steps = [["mkfs.ext4", "-q", str(image)], ["mount", "-o", "loop", str(image), str(mnt)]]
    for step in steps:
        if subprocess.run(step, capture_output=True, timeout=30).returncode != 0:
            pytest.skip(f"cannot {step[0]} here")
    subprocess.run(["fsfreeze", "-f", str(mnt)], check=True, timeout=10)
    thaw = ["fsfreeze", "-u", str(mnt)]
    yield mnt, lambda: subprocess.run(thaw, capture_output=True, timeout=10)
    subprocess.run(thaw, capture_output=True, timeout=10)
    subprocess.run(["umount", str(mnt)], check=True, timeout=30)


def test_terminate_returns_none_when_the_job_is_stuck_in_uninterruptible_io(
    frozen_dir, sh, monkeypatch
):
    mnt, thaw = frozen_dir
    monkeypatch.setattr("edged.power.jobs.process.KILL_WAIT_S", 0.5)
    job = sh(f"echo writing; echo data > {mnt}/dump")
    until(lambda: psutil.Process(job.pid).status() == psutil.STATUS_DISK_SLEEP)
    assert job.terminate(grace=0.2) is None  # SIGTERM, SIGKILL: neither ends a D sleep
    assert job.poll() is None and not gone(job.pid)
    thaw()
    assert job.wait(10) in (-signal.SIGTERM, -signal.SIGKILL)  # pending signals land now


def test_tail_keeps_only_the_last_bytes_and_cuts_no_character(sh):
    # 200 000 bytes of output; "é" is two bytes, so a cut may fall inside one
    job = sh(
        "i=0; while [ $i -lt 2000 ]; do printf 'é%098d\\n' $i; i=$((i+1)); done; echo LAST",
        tail_bytes=1000,
    )
    assert job.wait(10) == 0
    tail = job.output_tail
    assert len(tail.encode()) <= 1000
    assert tail.endswith("LAST\n")
    assert "1999\n" in tail and "0000000000000000001\n" not in tail
    assert "\ufffd" not in tail
    assert job.last_line == "LAST"


def test_carriage_return_lines_give_progress(sh):
    job = sh(r"printf '  1,234,567  45%%  1.23MB/s    0:00:12 (xfr#3, to-chk=0/10)\r'")
    assert job.wait(10) == 0
    assert job.progress == 45.0


LOCK_PROBE = """
import sys
from edged.power.jobs.lock import JobLock
lock = JobLock(sys.argv[1], "backup")
print(lock.acquire(), lock.holder_pid())
"""


def probe_lock(directory) -> str:
    out = subprocess.run(
        [sys.executable, "-c", LOCK_PROBE, str(directory)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.strip()


def test_lock_excludes_another_process_until_released(tmp_path):
    lock = JobLock(tmp_path / "locks", "backup")
    assert lock.holder_pid() is None
    with lock:
        assert lock.acquire()  # already ours
        assert lock.holder_pid() == os.getpid()
        assert probe_lock(tmp_path / "locks") == f"False {os.getpid()}"
        with pytest.raises(BlockingIOError, match=str(os.getpid())):
            JobLock(tmp_path / "locks", "backup").__enter__()  # another open file: excluded too
    assert lock.holder_pid() is None
    assert probe_lock(tmp_path / "locks").startswith("True ")
    assert lock.acquire()  # the probe died holding it: the kernel released it
    lock.release()


def test_result_row_matches_the_job_runs_table(tmp_path):
    result = JobResult(
        job="backup",
        kind="backup",
        trigger="manual",
        started=1_700_000_000.5,
        ended=1_700_000_090.25,
        duration_s=89.75,
        outcome=Outcome.STOPPED_LOW_BATTERY,
        exit_code=-15,
        reason="Batterie faible.",
        reason_en="Battery low.",
        output_tail="progress: 40\n",
        clock_synced=True,
    )
    db = store.open_db(tmp_path / "x.db")
    with db.conn:
        db.execute(store.ROW_SQL["job_run"], result.row().params())
    row = db.execute(
        "SELECT job, kind, trigger, started, ended, duration_s, outcome, exit_code, reason,"
        " reason_en, output_tail, clock_synced FROM job_runs"
    ).fetchone()
    assert row == result.row().params()
    assert JobResult(*row[:6], Outcome(row[6]), *row[7:11], bool(row[11])) == result
    payload = json.loads(json.dumps(result.payload()))
    assert payload["outcome"] == "stopped_low_battery"
    assert payload == {**result.payload(), "outcome": "stopped_low_battery"}
    assert set(payload) == set(JobResult.__slots__)
