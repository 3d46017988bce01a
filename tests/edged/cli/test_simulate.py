"""The README's first command: the whole daemon on the emulated site, then `edged status`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.peers.broker import free_port


def edged(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edged.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_simulated_site_runs_and_every_device_reads(tmp_path):
    # No broker on this port: the records must wait in the outbox, as on a site with no uplink.
    run = edged(
        "simulate",
        "--dir",
        str(tmp_path),
        "--broker",
        f"127.0.0.1:{free_port()}",
        "--seconds",
        "12",
        "--publish-interval",
        "2",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    config = str(tmp_path / "edged.toml")
    assert edged("check-config", "--config", config).returncode == 0

    status = edged("status", "--json", "--config", config)
    data = json.loads(status.stdout)
    devices = {d["device"]: d for d in data["devices"]}
    assert set(devices) == {
        "mppt",
        "bmv",
        "gx-system",
        "gx-mppt",
        "gx-battery",
        "epever",
        "bms-jbd",
    }
    for name, device in devices.items():
        assert device["latest"] and device["latest"]["metrics"], f"{name} stored no sample"
    assert devices["bms-jbd"]["latest"]["metrics"]["cell_count"] == 4
    assert data["daemon"] == "stopped" and data["outbox"] > 0

    text = edged("status", "--config", config).stdout
    assert (
        text.startswith("SURVEILLANCE ARRÊTÉE — ") and "La surveillance est arrêtée depuis" in text
    )
    assert len(text.splitlines()) <= 12 and "EN LIGNE" not in text
    details = edged("status", "--config", config, "--details").stdout
    assert "le démon edged ne tourne pas" in details and "mppt" in details
    assert "EN LIGNE" not in details  # nobody reads the devices: last known values


def test_storage_options_reach_the_generated_config(tmp_path):
    """`--storage KEY=VALUE` (what bench/bench_site.py measures each lever with) goes into
    `[storage]` as written, and the daemon runs on it."""
    run = edged(
        "simulate",
        "--dir",
        str(tmp_path),
        "--no-mqtt",
        "--seconds",
        "3",
        "--storage",
        "keep_raw_samples=true",
        "--storage",
        "commit_interval = 30",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    config = str(tmp_path / "edged.toml")
    shown = edged("check-config", "--config", config)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    text = (tmp_path / "edged.toml").read_text()
    assert "keep_raw_samples = true\ncommit_interval = 30\n" in text


def test_hostile_storage_options_are_refused_with_the_problem_named(tmp_path):
    for option, said in [
        ("keep_raw_samples", "expected KEY=VALUE"),
        ('path="/x"\n[mqtt]\nenabled=true', "is not a TOML value"),  # no section smuggled in
        ("k-y=1", "expected KEY=VALUE"),
        ("keep_raw_samples=yes please", "is not a TOML value"),
        ("keep_raw_samples=true\n[site]", "is not a TOML value"),
    ]:
        run = edged("simulate", "--dir", str(tmp_path), "--no-mqtt", "--storage", option)
        assert run.returncode == 2 and said in run.stderr, (option, run.stderr[-500:])
        assert not (tmp_path / "edged.toml").exists()
    # valid TOML, but a key or a value the config check refuses: named, exit 2, no daemon
    for option, said in [
        ("keep_raw_sample=true", "storage.keep_raw_sample"),
        ('keep_raw_samples="yes"', "storage.keep_raw_samples"),
    ]:
        run = edged("simulate", "--dir", str(tmp_path), "--no-mqtt", "--storage", option)
        assert run.returncode == 2 and said in run.stderr, (option, run.stderr[-500:])
        assert "Traceback" not in run.stderr


def test_the_simulated_backup_job_runs_the_real_script():
    """The demo's backup job names scripts/backup-openclinic of this checkout (it once named a
    path under edged/ that does not exist, and every run of the job ended `error`)."""
    from edged.cli import simulate

    assert simulate.BACKUP_SCRIPT.is_file()
    assert os.access(simulate.BACKUP_SCRIPT, os.X_OK)
