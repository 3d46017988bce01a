"""A running `edged run` holds its database alone; the CLI reads and writes through its door.

The daemon keeps SQLite's WAL index in its heap (no `-shm` file on the card), so no other
process may open the file while it runs: `edged maintenance log` and `list` (another process)
go through the door beside it, and once the daemon is killed, its socket left behind, they
open the file themselves.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from telemetry import exclusive
from tests.edged.cli.test_maintenance import EQUIPMENT
from tests.peers.daemon import DaemonProcess, write_config
from tests.peers.replay import wait_until

ROOT = Path(__file__).resolve().parents[2]


def edged(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "edged.cli", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def log_visit(config: Path, action: str) -> subprocess.CompletedProcess:
    return edged(
        "maintenance", "log", "--config", str(config), "--item", "batterie", "--action", action
    )


def test_the_cli_goes_through_the_door_and_opens_the_file_once_the_daemon_is_gone(tmp_path):
    config = write_config(tmp_path, devices="", broker_port=None)
    config.write_text(config.read_text() + EQUIPMENT)
    db, door = tmp_path / "edged.db", exclusive.door_path(tmp_path / "edged.db")
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    daemon.start()
    try:
        wait_until(lambda: "edged starting" in daemon.logs(), 60, what="the daemon's start")
        assert door.is_socket() and not Path(f"{db}-shm").exists()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            sqlite3.connect(db, timeout=0.5).execute("SELECT count(*) FROM kv").fetchall()

        logged = log_visit(config, "bornes nettoyées")  # a write, by another process
        assert logged.returncode == 0, logged.stderr
        listed = edged("maintenance", "list", "--config", str(config))
        assert listed.returncode == 0 and "bornes nettoyées" in listed.stdout, listed.stderr
        assert not Path(f"{db}-shm").exists()

        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGKILL)  # no orderly stop: the socket stays
        daemon.proc.wait(30)
        assert door.is_socket()
        logged = log_visit(config, "visite après la coupure")
        assert logged.returncode == 0, logged.stderr
        listed = edged("maintenance", "list", "--config", str(config))
        assert "bornes nettoyées" in listed.stdout and "visite après la coupure" in listed.stdout

        daemon.start()  # a new daemon replaces the dead one's socket and serves again
        wait_until(lambda: daemon.logs().count("edged starting") == 2, 60, what="the restart")
        listed = edged("maintenance", "list", "--config", str(config))
        assert listed.returncode == 0 and "visite après la coupure" in listed.stdout
        assert daemon.terminate() == 0, daemon.logs()[-2000:]
        assert not door.exists()  # an orderly stop removes its socket
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
