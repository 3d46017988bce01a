"""One database, one daemon: an exclusive `flock` on `<database>.lock`, taken by the Writer
(and the same kind of lock, `ExclusiveLock`, on the live view's directory: `edged.live`).

Two daemons on one database would both commit, both replay the same open windows and fight over
one MQTT client id. SQLite's own locks cannot stop that (each commit is short), so the Writer
holds this lock for its whole life. flock, not a pid file: the kernel releases it when its
holder dies, so a power cut or SIGKILL never leaves the database locked. The pid written in the
file is for the error message only. The file is never deleted (two processes could otherwise
lock two different files). Other writers (`edged alarms ack`, `edged maintenance log`) make
short transactions that WAL serialises; they do not take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class LockBusy(Exception):
    """Another live process holds the lock."""

    def __init__(self, path: Path, pid: int | None) -> None:
        super().__init__(f"{path} is locked by pid {pid}")
        self.path, self.pid = path, pid


class DatabaseBusy(LockBusy):
    """Another live process holds the database's lock."""


class ExclusiveLock:
    """An exclusive flock on `path` for the holder's life (the pattern above, for any file
    one daemon must own: the database, the live view's directory in `edged.live`)."""

    busy: type[LockBusy] = LockBusy
    what = "lock"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise `busy`. A lock file that cannot be created (read-only or
        full file system) is logged and the daemon runs unlocked: storage may be failing
        anyway, and live telemetry matters more than the guard."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            log.error("cannot create the %s %s, running without it: %s", self.what, self.path, exc)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self.busy(self.path, self.holder_pid()) from None
        self._fd = fd
        try:  # the pid is a courtesy for the error message; a full disk must not stop us
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            log.warning("cannot write our pid into %s: %s", self.path, exc)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):  # before unlocking: never erase the next pid
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder_pid(self) -> int | None:
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def held(self) -> bool | None:
        """Whether a live process holds the lock now, read from /proc/locks (testing it with
        flock would hold it for an instant, long enough to make a starting daemon give up).
        None where it cannot be told: no lock file, no /proc/locks."""
        try:
            st = self.path.stat()
            table = Path("/proc/locks").read_text()
        except OSError:
            return None
        ours = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        return any(
            len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == ours
            for fields in (line.split() for line in table.splitlines())
        )


class DatabaseLock(ExclusiveLock):
    busy = DatabaseBusy
    what = "database lock"

    def __init__(self, database: str | Path) -> None:
        # The real file's name: a second daemon reaching it through a symlink meets the same lock.
        database = Path(database).resolve()
        super().__init__(database.with_name(database.name + ".lock"))
