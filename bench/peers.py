"""What the bench scripts run the daemon against: a mosquitto on a free loopback port, the
daemon as a subprocess, and its memory read from /proc.

Kept apart from tests/ (bench scripts must not import the test suite); the broker is started as
the tests start theirs: anonymous, no persistence, loopback only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One mosquitto process; `stop()` then `start()` keeps the same port."""

    def __init__(self, workdir: Path, persistence: bool = False) -> None:
        """With `persistence`, a restart keeps persistent sessions and their queued messages
        (saved when mosquitto is stopped with SIGTERM)."""
        self.host, self.port = "127.0.0.1", free_port()
        self.conf = workdir / "mosquitto.conf"
        keep = "persistence false\n"
        if persistence:
            # mosquitto started as root drops to its own user: give it a folder it may write
            store = workdir / "mosquitto-db"
            store.mkdir(exist_ok=True)
            store.chmod(0o777)
            # ... and a way to it: a mkdtemp folder is 0700, and a broker that cannot save its
            # sessions forgets the checking subscriber at every restart
            workdir.chmod(workdir.stat().st_mode | 0o011)
            keep = f"persistence true\npersistence_location {store}/\n"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{keep}"
            "max_queued_messages 0\n"  # a checking subscriber away for a while loses nothing
        )
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([binary, "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {self.log.read_text()[-500:]!r}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def start_daemon(config: Path, log: Path, level: str = "INFO") -> subprocess.Popen:
    """`python -m edged.cli run` on `config`, its output appended to `log`."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edged.cli",
                "--log-level",
                level,
                "run",
                "--config",
                str(config),
            ],
            stdout=out,
            stderr=out,
            env=env,
        )


def proc_status_kb(pid: int, field: str) -> int:
    """A `kB` line of /proc/<pid>/status (`VmRSS`, `VmHWM`: the peak RSS so far); 0 if gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0
