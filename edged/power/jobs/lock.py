"""One job at a time across processes: the daemon and `edged backup --now` share this lock."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class JobLock:
    """An exclusive, non-blocking `flock` on `{directory}/{name}.lock`.

    flock, not a pid file: the kernel releases it when its holder dies, so a crash or a power
    cut never leaves a job locked. The holder writes its pid in the file, for messages only.
    The file is never deleted (that would let two processes lock two different files), and
    the job does not inherit it (Python opens descriptors close-on-exec).
    """

    def __init__(self, directory: str | Path, name: str) -> None:
        self.path = Path(directory) / f"{name}.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock if free; True if held (also when this object already held it)."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # before unlocking: never erase the next holder's pid
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder_pid(self) -> int | None:
        """The pid the holder wrote (None if free, unreadable or not a pid)."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def __enter__(self) -> JobLock:
        if not self.acquire():
            raise BlockingIOError(f"{self.path} is held by pid {self.holder_pid()}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
