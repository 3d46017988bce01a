"""How an energy-hungry job (backup, sync, report) runs as a real subprocess: started, watched,
suspended, stopped, and what its run leaves behind (`JobResult`, one `job_runs` row).

*When* a job starts or stops is not decided here (`maintenance.energy.policy` decides,
`edged.power.jobs.supervisor` acts); this module only knows processes:
- A job runs in its own session and process group, so a stop reaches everything it started: a
  backup is often a pipeline under a shell (`mysqldump | gzip`), and signalling only the shell
  would leave mysqldump running on a battery that was judged too low.
- Its output (stdout and stderr merged) is read by a thread that keeps only the last
  `tail_bytes` and the last progress value (`edged.power.jobs.progress`): a chatty rsync must not
  grow the daemon's memory, and only the tail goes to the SD card with the result.
- Durations are monotonic (the wall-clock jump when NTP first syncs after a power cut must not
  make a job look hours long) and exclude time spent suspended.
- No `time.sleep`: waits are `threading.Event.wait`, and the process is reaped by a thread
  blocked in `waitpid` (`Popen.wait(timeout)` sleeps in a loop): the clock-jump test runs the
  daemon under libfaketime, whose `clock_nanosleep` is broken.
`edged.power.jobs.lock.JobLock` keeps the daemon and `edged backup --now` from running the same job
at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from edged.power.jobs.progress import parse_progress
from edged.power.jobs.result import JobResult, Outcome

log = logging.getLogger(__name__)

__all__ = ["JobProcess", "JobResult", "JobStartError", "Outcome"]

READ_CHUNK = 65536
MAX_LINE = 4096
"""Longest line kept whole for progress parsing; a longer one (binary garbage) is cut."""
DRAIN_S = 2.0
"""After the main process exits, how long its last output may take to arrive. Only a process
it left behind, still holding the pipe, makes this wait whole."""
KILL_WAIT_S = 5.0
"""After SIGKILL, how long to wait for the exit (a process stuck in I/O on a USB disk that was
pulled out may not exit; `terminate` then returns None)."""
GROUP_POLL_S = 0.05
"""How often `terminate` looks whether the group is gone during the grace period."""
STRAY_GRACE_S = 2.0
"""When the main process exits but a process it started in the background is still in its
group, how long that one has after SIGTERM before SIGKILL (`JobProcess(stray_grace=...)`)."""


class JobStartError(Exception):
    """The job could not be started: command not found or not executable, bad workdir."""


class JobProcess:
    """One run of a job's command: `start()`, then `wait`/`poll`, `terminate` to stop it.
    One thread controls it; any thread may read its properties (the live view)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        tail_bytes: int = 4096,
        stray_grace: float = STRAY_GRACE_S,
    ) -> None:
        self.name, self.argv, self.cwd, self.tail_bytes = name, list(argv), cwd, tail_bytes
        self.stray_grace = stray_grace
        self.env = {**os.environ, **(env or {})}
        self._popen: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._exited, self._pause = threading.Event(), threading.Event()  # _pause: never set
        self._terminating = threading.Event()
        self._lock = threading.Lock()
        self._tail, self._progress, self._last_line = bytearray(), None, ""
        self._started: float | None = None  # monotonic, as every time below
        self._ended: float | None = None
        self._suspended_at: float | None = None
        self._suspended_total = 0.0

    def start(self) -> None:
        """Start the command, or raise `JobStartError` with a message a technician can act on.
        stdin is /dev/null: a job that asks a question (ssh host key, password) fails at once
        instead of hanging until its duration limit."""
        if self._popen is not None:
            raise RuntimeError(f"job {self.name} already started")
        if not self.argv:
            raise JobStartError("empty command")
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise JobStartError(f"working directory not found: {self.cwd!r}")
        if self.cwd is not None and not os.access(self.cwd, os.X_OK):
            raise JobStartError(f"working directory not accessible: {self.cwd!r}")
        command = self.argv[0]
        try:
            self._popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise JobStartError(f"command not found: {command!r}") from exc
        except PermissionError as exc:
            raise JobStartError(f"command not executable: {command!r}") from exc
        except OSError as exc:
            raise JobStartError(f"cannot run {command!r}: {exc.strerror or exc}") from exc
        except (ValueError, TypeError) as exc:  # a NUL character, a value that is no string
            raise JobStartError(_invalid(self.argv, self.env, exc)) from exc
        self._started = time.monotonic()
        self._reader = threading.Thread(target=self._read, name=f"job-{self.name}-out", daemon=True)
        self._reader.start()
        threading.Thread(target=self._reap, name=f"job-{self.name}-wait", daemon=True).start()

    def _read(self) -> None:
        """Keep the output's tail and the last progress value, until every writer closed the
        pipe. Lines end at \\n or \\r: rsync and wget redraw their progress line with \\r."""
        assert self._popen is not None and self._popen.stdout is not None
        fd, partial = self._popen.stdout.fileno(), b""
        try:
            while chunk := os.read(fd, READ_CHUNK):
                with self._lock:
                    self._tail += chunk
                    del self._tail[: max(0, len(self._tail) - self.tail_bytes)]
                *lines, partial = (partial + chunk).replace(b"\r", b"\n").split(b"\n")
                partial = partial[-MAX_LINE:]
                self._take_lines(lines)
            self._take_lines([partial])
        except OSError as exc:
            log.warning("job %s: cannot read its output: %s", self.name, exc)
        finally:
            self._popen.stdout.close()

    def _take_lines(self, lines: list[bytes]) -> None:
        for raw in lines:
            line = raw[-MAX_LINE:].decode("utf-8", errors="replace").strip()
            value = parse_progress(line) if line else None
            with self._lock:
                self._last_line = line or self._last_line
                self._progress = self._progress if value is None else value

    def _reap(self) -> None:
        """Wait for the main process (a blocking waitpid), stop what it left running in its
        group, then wait briefly for its last output. The exit is reported only then: a child
        it backgrounded (`cmd &` in a script) must not go on writing to the backup disk after
        the run is recorded and the job's lock released."""
        assert self._popen is not None and self._reader is not None
        self._popen.wait()
        with self._lock:
            self._ended = time.monotonic()
            self._end_suspension(self._ended)
        if not self._terminating.is_set() and _has_live_member(self._popen.pid):
            log.warning("job %s exited leaving processes in its group: stopping them", self.name)
            self._stop_group(self.stray_grace)
            self._note("edged: the job exited leaving processes running; they were stopped")
        self._reader.join(DRAIN_S)
        if self._reader.is_alive():
            log.warning("job %s exited, but a process it left holds its output", self.name)
        self._exited.set()

    def _note(self, text: str) -> None:
        """Add a line of edged's own to the output tail (it is stored with the result)."""
        with self._lock:
            self._tail += f"\n{text}\n".encode()
            del self._tail[: max(0, len(self._tail) - self.tail_bytes)]

    @property
    def pid(self) -> int | None:
        """The main process's pid, which is also its process group's id."""
        return self._popen.pid if self._popen is not None else None

    def poll(self) -> int | None:
        """The exit code (negative signal number if killed), or None while it runs."""
        return self._popen.returncode if self._popen and self._exited.is_set() else None

    def wait(self, timeout: float | None) -> int | None:
        """Wait up to `timeout` s (None: forever) for the exit; the exit code or None."""
        if self._popen is not None:
            self._exited.wait(timeout)
        return self.poll()

    @property
    def progress(self) -> float | None:
        with self._lock:
            return self._progress

    @property
    def last_line(self) -> str:
        with self._lock:
            return self._last_line

    @property
    def output_tail(self) -> str:
        """The last `tail_bytes` of output; complete once `wait`/`poll` gave an exit code."""
        with self._lock:
            tail = bytes(self._tail)
        cut = 0  # the cut may have split a UTF-8 character: drop its continuation bytes
        while len(tail) >= self.tail_bytes and cut < min(3, len(tail)) and tail[cut] >> 6 == 2:
            cut += 1
        return tail[cut:].decode("utf-8", errors="replace")

    @property
    def running_s(self) -> float:
        """Monotonic seconds since start, not counting time spent suspended."""
        with self._lock:
            if self._started is None:
                return 0.0
            now = self._ended if self._ended is not None else time.monotonic()
            stopped = 0.0 if self._suspended_at is None else now - self._suspended_at
            return now - self._started - self._suspended_total - stopped

    @property
    def suspended(self) -> bool:
        with self._lock:
            return self._suspended_at is not None

    def _end_suspension(self, now: float) -> None:
        if self._suspended_at is not None:
            self._suspended_total += now - self._suspended_at
            self._suspended_at = None

    def suspend(self) -> None:
        """Freeze the whole group (SIGSTOP) until `resume`. SIGSTOP, not SIGTSTP: it cannot be
        caught or ignored, so every process of a pipeline stops at once and the battery is
        spared now, while the job keeps its place (rsync or restic goes on where it was). A
        database dump held stopped for long may lose its server connection and fail on resume:
        such jobs are better stopped."""
        with self._lock:
            if self._popen is not None and self._ended is None and self._suspended_at is None:
                self._signal(signal.SIGSTOP)
                self._suspended_at = time.monotonic()

    def resume(self) -> None:
        """Let a suspended group run again (SIGCONT)."""
        with self._lock:
            if self._suspended_at is not None:
                self._signal(signal.SIGCONT)
                self._end_suspension(time.monotonic())

    def terminate(self, grace: float) -> int | None:
        """Stop the whole group: SIGTERM (and SIGCONT, so a suspended job sees it), up to
        `grace` s for every process of the group to exit, then SIGKILL to what is left.

        Returns the exit code as Popen gives it (-15, -9, or the job's own code if it caught
        SIGTERM). Returns None when the main process outlived SIGKILL by `KILL_WAIT_S`: it is
        in uninterruptible sleep (state D: a write to a USB disk that was pulled out, a hung
        NFS server), which no signal can end. It is then still there, `poll()` gives its code
        if it ever exits, and the caller records the run with exit_code None. Safe once the
        job ended. A process that left the group (setsid, a daemon) is out of reach: jobs must
        not detach.
        """
        if self._popen is None:
            return None
        self._terminating.set()
        if self._group_alive():
            self._stop_group(grace)
        return self.wait(KILL_WAIT_S)

    def _stop_group(self, grace: float) -> None:
        """SIGTERM + SIGCONT to the group, up to `grace` s for it to go, then SIGKILL."""
        self._signal(signal.SIGTERM)
        with self._lock:
            self._signal(signal.SIGCONT)
            self._end_suspension(time.monotonic())
        deadline = time.monotonic() + grace
        while self._group_alive() and (left := deadline - time.monotonic()) > 0:
            self._pause.wait(min(GROUP_POLL_S, left))
        if self._group_alive():
            log.warning("job %s: still running %.1f s after SIGTERM, killing it", self.name, grace)
            self._signal(signal.SIGKILL)
            # SIGKILL is delivered when the process is next scheduled; on a busy machine that
            # can be after kill() returns. Wait for it, so a reported end means nothing runs.
            deadline = time.monotonic() + KILL_WAIT_S
            while self._stray_alive() and (left := deadline - time.monotonic()) > 0:
                self._pause.wait(min(GROUP_POLL_S, left))

    def _signal(self, sig: signal.Signals) -> None:
        assert self._popen is not None
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(self._popen.pid, sig)

    def _stray_alive(self) -> bool:
        """Whether a member other than the (possibly unreaped) main process still runs."""
        assert self._popen is not None
        return _has_live_member(self._popen.pid)

    def _group_alive(self) -> bool:
        """Whether a process of the job's group is left. The main one counts until reaped, so
        the group id is never signalled once the kernel could give it to another process (a
        group id stays taken while any member lives)."""
        assert self._popen is not None
        return self._popen.returncode is None or _has_live_member(self._popen.pid)


def _invalid(argv: Sequence[Any], env: Mapping[Any, Any], exc: Exception) -> str:
    """Which argument or variable Popen refused, without printing any value (an env value
    may be a password)."""
    for n, arg in enumerate(argv):
        if not isinstance(arg, str | bytes | os.PathLike):
            return f"argument {n} is not a string but {type(arg).__name__}"
        if "\0" in os.fsdecode(arg):
            return f"argument {n} contains a NUL character"
    for key, value in env.items():
        if not isinstance(key, str | bytes) or not isinstance(value, str | bytes):
            return f"environment variable {key!r} is not a string"
        if "\0" in os.fsdecode(key) + os.fsdecode(value) or "=" in os.fsdecode(key):
            return f"environment variable {key!r} contains a NUL character or '='"
    return f"invalid command or environment: {exc}"


def _has_live_member(pgid: int) -> bool:
    """Whether group `pgid` has a member that is not a zombie (init may be slow to reap)."""
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit():
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    state, _ppid, group = f.read().rsplit(b")", 1)[1].split()[:3]
                if int(group) == pgid and state not in (b"Z", b"X"):
                    return True
        except OSError:  # the process ended while we looked
            continue
    return False
