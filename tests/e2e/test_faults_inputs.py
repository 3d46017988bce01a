"""Fault injection against the real daemon: hostile inputs, driver bugs and dying threads.

All real: devices on pseudo-terminals, `edged run` as a subprocess, mosquitto, SQLite. A crafted
input must never stop the daemon or another device, never be stored, and always be counted; a
driver bug leaves the daemon up with that device going stale then offline; a thread that dies
makes the daemon stop and exit non-zero (so systemd restarts it).

Driver bugs and thread deaths are injected in the daemon process by a `sitecustomize` written
by the test (on PYTHONPATH), which wraps one function so that it raises once a flag file exists.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.battery.jbd import emulator as jbd
from drivers.victron.vedirect.codec import encode_block
from drivers.victron.vedirect.emulator import PtyEmulator
from edged.daemon import EXIT_THREAD_DIED
from edged.metrics import CATALOGUE
from telemetry.stored_metrics import metrics_of
from tests.peers.daemon import DaemonProcess, db_rows, write_config
from tests.peers.replay import ReplayPty, wait_until
from tests.peers.subscriber import Subscriber

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "faults"
NINES = "9" * 400

GOOD = [
    ("PID", "0xA042"),
    ("FW", "123"),
    ("SER#", "HQ1328A1B2C"),
    ("V", "12800"),
    ("I", "1500"),
    ("VPV", "18000"),
    ("PPV", "40"),
    ("CS", "3"),
    ("ERR", "0"),
    ("LOAD", "ON"),
    ("IL", "500"),
    ("H19", "100"),
    ("H20", "5"),
    ("H21", "50"),
    ("H22", "7"),
    ("H23", "60"),
    ("HSDS", "12"),
]
"""A BlueSolar MPPT's one-block record: every crafted block below is a copy with one change."""


def crafted(**changes: str) -> bytes:
    fields = [(label, changes.pop(label, value)) for label, value in GOOD]
    return encode_block(fields + list(changes.items()))  # checksum valid: the codec accepts it


CRAFTED = [crafted(AC_OUT_S=NINES), crafted(V=NINES), crafted(V2="-90000")]


def vedirect_toml(dev_id: str, port: Path | str) -> str:
    return (
        f'[[devices]]\nid = "{dev_id}"\ndriver = "vedirect"\nport = "{port}"\n'
        "interval = 0.2\nstale_after = 2.0\noffline_after = 4.0\n\n"
    )


def jbd_toml(dev_id: str, port: str) -> str:
    return (
        f'[[devices]]\nid = "{dev_id}"\ndriver = "jbd"\nport = "{port}"\n'
        "interval = 0.3\nstale_after = 2.0\noffline_after = 4.0\n\n"
    )


def status_json(config: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "edged.cli", "status", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def counters(config: Path, device: str) -> dict:
    devices = {d["device"]: d for d in status_json(config)["devices"]}
    return devices.get(device, {}).get("counters", {})


def stored_metrics(db: Path, device: str) -> list[dict]:
    rows = db_rows(db, f"SELECT metrics FROM records WHERE device = '{device}'")
    return [metrics_of(m) for (m,) in rows]


def assert_in_bounds(records: list[dict]) -> None:
    for metrics in records:
        for name, value in metrics.items():
            bounds = CATALOGUE[name].bounds
            if bounds is not None:
                assert math.isfinite(value) and bounds[0] <= value <= bounds[1], (name, value)


def faulty_daemon(tmp_path: Path, config: Path, target: str, error: str) -> DaemonProcess:
    """`edged run` where `target` ("module:function") raises `error` once tmp_path/fault exists."""
    site = tmp_path / "fault_site"
    site.mkdir()
    module, function = target.split(":")
    (site / "sitecustomize.py").write_text(
        "import functools, os, importlib\n"
        f"_module = importlib.import_module({module!r})\n"
        f"_real = getattr(_module, {function!r})\n"
        "@functools.wraps(_real)\n"
        "def _faulty(*args, **kwargs):\n"
        f"    if os.path.exists({str(tmp_path / 'fault')!r}):\n"
        f"        raise {error}\n"
        "    return _real(*args, **kwargs)\n"
        f"setattr(_module, {function!r}, _faulty)\n"
    )
    path = os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])
    daemon = DaemonProcess(config, tmp_path / "daemon.log", env={"PYTHONPATH": path})
    daemon.start()
    return daemon


def device_states(sub: Subscriber, device: str) -> list[str]:
    topic = f"{PREFIX}/test-site/device/{device}"
    return [json.loads(m.payload)["state"] for m in sub.received(lambda m: m.topic == topic)]


def test_crafted_vedirect_blocks_are_rejected_counted_and_the_other_device_goes_on(
    tmp_path, broker, daemons
):
    bad = ReplayPty(tmp_path / "tty-bad", [crafted(), *CRAFTED], period=0.2)
    good = PtyEmulator("mppt", link=str(tmp_path / "tty-good"), interval=0.2, seed=3)
    bad.start()
    good.start()
    sub = Subscriber(broker.host, broker.port, f"{PREFIX}/#").start()
    config = write_config(
        tmp_path,
        devices=vedirect_toml("bad", bad.link) + vedirect_toml("good", good.path),
        broker_port=broker.port,
        prefix=PREFIX,
    )
    daemon = daemons(config)
    db = tmp_path / "edged.db"
    try:
        wait_until(lambda: bad.sent >= 3 * 8, 60, what="each crafted block sent 8 times")
        # the crafted blocks went through while the good device kept being stored and published
        before = len(stored_metrics(db, "good"))
        wait_until(lambda: len(stored_metrics(db, "good")) >= before + 3, 30, what="good stored")
        sub.wait_for(lambda m: m.topic.endswith("/telemetry/good"), timeout=30, count=3)
        wait_until(lambda: counters(config, "bad").get("rejected_out_of_range", 0) >= 2, 30)
        seen = counters(config, "bad")
        assert seen["rejected_bad_value"] >= 2, seen  # AC_OUT_S and V of 400 nines
        assert stored_metrics(db, "bad"), "the bad device's plausible records are stored"
        assert_in_bounds(stored_metrics(db, "bad") + stored_metrics(db, "good"))
        for metrics in stored_metrics(db, "bad"):
            assert "ac_out_apparent_power" not in metrics and "battery_voltage_2" not in metrics
            assert metrics["battery_voltage"] == 12.8
        assert daemon.proc.poll() is None
        assert "Traceback" not in daemon.logs()
        assert daemon.terminate() == 0
    finally:
        sub.stop()
        bad.stop()
        good.stop()


def test_implausible_bms_values_are_refused_one_by_one_counted_and_logged_once(
    tmp_path, broker, daemons
):
    state = jbd.PackState(soc=250, cells_mv=[65535] * 4, temps_c=[6280.4])
    bms = jbd.PtyBmsEmulator(state).start()
    sub = Subscriber(broker.host, broker.port, f"{PREFIX}/#").start()
    config = write_config(
        tmp_path, devices=jbd_toml("bms", bms.path), broker_port=broker.port, prefix=PREFIX
    )
    daemon = daemons(config)
    db = tmp_path / "edged.db"
    try:
        wait_until(lambda: bms.requests_seen >= 20, 60, what="ten polls of the crafted BMS")
        wait_until(lambda: len(stored_metrics(db, "bms")) >= 2, 30, what="bms records stored")
        refused = {"battery_soc", "cell_voltage_min", "cell_voltage_max", "battery_temperature"}
        for metrics in stored_metrics(db, "bms"):
            assert metrics["battery_voltage"] == 13.24  # the plausible values of the reading
            assert not refused & metrics.keys(), metrics
        assert_in_bounds(stored_metrics(db, "bms"))
        wait_until(lambda: counters(config, "bms").get("rejected_out_of_bounds", 0) >= 20, 30)
        assert status_json(config)["devices"][0]["state"] == "ok"
        logs = daemon.logs()
        for name in refused:  # once per burst, not once per poll
            assert logs.count(f"device bms: {name} value") == 1, name
        assert "device bms: battery_soc value 250 refused (out_of_bounds)" in logs
        assert daemon.terminate() == 0
    finally:
        sub.stop()
        bms.stop()


def test_a_driver_bug_leaves_the_daemon_up_and_the_device_stale_then_offline(tmp_path, broker):
    bms = jbd.PtyBmsEmulator().start()
    good = PtyEmulator("mppt", link=str(tmp_path / "tty-good"), interval=0.2, seed=4).start()
    sub = Subscriber(broker.host, broker.port, f"{PREFIX}/#").start()
    config = write_config(
        tmp_path,
        devices=jbd_toml("bms", bms.path) + vedirect_toml("good", good.path),
        broker_port=broker.port,
        prefix=PREFIX,
    )
    daemon = faulty_daemon(
        tmp_path, config, "drivers.battery.jbd.driver:decode", "OverflowError('crafted')"
    )
    db = tmp_path / "edged.db"
    try:
        wait_until(lambda: "ok" in device_states(sub, "bms"), 30, what="bms ok")
        (tmp_path / "fault").touch()
        wait_until(lambda: device_states(sub, "bms")[-1:] == ["stale"], 30, what="bms stale")
        wait_until(lambda: device_states(sub, "bms")[-1:] == ["offline"], 30, what="offline")
        before = len(stored_metrics(db, "good"))
        wait_until(lambda: len(stored_metrics(db, "good")) >= before + 3, 30, what="good goes on")
        wait_until(lambda: counters(config, "bms").get("driver_errors", 0) >= 3, 30)
        assert daemon.proc.poll() is None
        logs = daemon.logs()
        # logged with its traceback once per burst (the repeats only at DEBUG)
        assert logs.count("device bms: driver bug during read (counted in driver_errors)") == 1
        assert "OverflowError: crafted" in logs  # with its traceback
        (tmp_path / "fault").unlink()
        wait_until(lambda: device_states(sub, "bms")[-1:] == ["ok"], 30, what="bms back ok")
        assert daemon.terminate() == 0
    finally:
        daemon.stop()
        sub.stop()
        bms.stop()
        good.stop()


@pytest.mark.parametrize(
    "target",
    ["telemetry.windows:aggregate", "edged.metrics:check"],
    ids=["writer-thread", "runner-thread"],
)
def test_a_thread_that_dies_makes_the_daemon_exit_non_zero(tmp_path, target):
    # the writer dies folding a window; a runner dies checking a reading
    emulator = jbd.PtyBmsEmulator().start()
    config = write_config(tmp_path, devices=jbd_toml("bms", emulator.path), broker_port=None)
    daemon = faulty_daemon(tmp_path, config, target, "RuntimeError('thread killer')")
    try:
        wait_until(lambda: "edged starting" in daemon.logs(), 30, what="daemon started")
        (tmp_path / "fault").touch()
        started = time.monotonic()
        code = daemon.proc.wait(90)
        assert code == EXIT_THREAD_DIED, daemon.logs()[-3000:]
        logs = daemon.logs()
        assert "died; stopping edged to be restarted" in logs
        assert "RuntimeError: thread killer" in logs and "edged stopped" in logs
        assert time.monotonic() - started < 90
    finally:
        daemon.stop()
        emulator.stop()
