"""`edged run` as a real subprocess, with its config written by the test."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from telemetry import exclusive


def write_config(
    workdir: Path,
    *,
    devices: str,
    broker_port: int | None,
    prefix: str = "edged",
    publish_interval: float = 1.0,
    commit_interval: float = 0.5,
    extra: str = "",
) -> Path:
    path = workdir / "edged.toml"
    mqtt = (
        f'host = "127.0.0.1"\nport = {broker_port}\ntopic_prefix = "{prefix}"\n'
        f"reconnect_min = 0.2\nreconnect_max = 1.0\n"
        if broker_port
        else "enabled = false\n"
    )
    path.write_text(
        f'[site]\nid = "test-site"\nname = "Test"\n\n'
        f'[storage]\npath = "{workdir / "edged.db"}"\ncommit_interval = {commit_interval}\n'
        f'live_path = "{workdir / "live.json"}"\n\n'
        f"[mqtt]\n{mqtt}\n"
        f"[telemetry]\npublish_interval = {publish_interval}\n{extra}\n{devices}"
    )
    return path


class DaemonProcess:
    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.config, self.log, self.env = config, log, env or {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        # faulthandler: a daemon that will not stop is sent SIGABRT and shows where it hung.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1", **self.env}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "edged.cli",
                    "--log-level",
                    "DEBUG",
                    "run",
                    "--config",
                    str(self.config),
                ],
                stdout=log,
                stderr=log,
                env=env,
            )

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM and the exit code; a daemon still there after `timeout` fails the test with
        every thread's stack (faulthandler on SIGABRT) from its log."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)
            self.proc.wait(10)
            tail = "\n".join(self.logs().splitlines()[-150:])
            message = f"edged did not stop {timeout:g} s after SIGTERM:\n{tail}"
            raise AssertionError(message) from None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


def db_rows(db: Path, sql: str) -> list[tuple]:
    """Rows of `sql` on the daemon's database, read-only; [] before the daemon created it."""
    if not db.exists():
        return []
    try:
        conn = exclusive.connect(db, readonly=True)  # through the running daemon's door
    except sqlite3.OperationalError as exc:
        if "has schema v0" in str(exc):  # the daemon could not create it yet (a full disk)
            return []
        raise
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # the daemon has not created its schema yet
            return []
        raise
    finally:
        conn.close()
