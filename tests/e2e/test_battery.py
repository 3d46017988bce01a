"""End to end, all real: a VE.Direct MPPT emulator on a pty -> `edged run` with an estimated
`[[batteries]]` bank -> mosquitto -> a subscriber; then a restart resumes the saved estimate and
`edged battery --json` reads the stored records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from drivers.victron.vedirect.emulator import PtyEmulator
from tests.peers.daemon import DaemonProcess, db_rows, write_config
from tests.peers.replay import wait_until
from tests.peers.subscriber import Subscriber

PREFIX = "e2ebat"
BANK = """
[[batteries]]
id = "bank"
chemistry = "agm"
nominal_voltage = 12
capacity_ah = 100
controller = "mppt"
initial_soc = 60
"""


def test_estimated_bank_is_published_saved_and_reported(tmp_path, broker):
    emulator = PtyEmulator("mppt", link=str(tmp_path / "tty-mppt"), interval=0.2, seed=7)
    emulator.start()
    sub = Subscriber(broker.host, broker.port, f"{PREFIX}/#")
    sub.start()
    devices = f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{emulator.path}"\n'
    config = write_config(
        tmp_path,
        devices=devices + "interval = 0.2\n" + BANK,
        broker_port=broker.port,
        prefix=PREFIX,
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    db = tmp_path / "edged.db"
    try:
        daemon.start()
        root = f"{PREFIX}/test-site"
        (msg,) = sub.wait_for(lambda m: m.topic == f"{root}/telemetry/bank", timeout=20)[:1]
        metrics = json.loads(msg.payload)["metrics"]
        assert 0.0 <= metrics["battery_soc"] <= 100.0
        assert abs(metrics["battery_soc"] - 60.0) < 5.0  # seconds of counting from 60 %
        assert {"battery_voltage", "battery_current"} <= set(metrics)
        states = sub.wait_for(lambda m: m.topic == f"{root}/device/bank", timeout=10)
        state = json.loads(states[-1].payload)
        assert state["soc_source"] == "estimated" and state["controller"] == "mppt"
        assert state["state"] == "ok"
        # the health figures need consecutive records: at least a few windows stored first
        bank_records = "SELECT count(*) FROM records WHERE device = 'bank'"
        stored = lambda: (db_rows(db, bank_records) or [(0,)])[0][0]  # noqa: E731
        wait_until(lambda: stored() >= 3, 30, what="bank records stored")
        assert daemon.terminate() == 0
        ((saved,),) = db_rows(db, "SELECT value FROM kv WHERE key = 'battery.bank'")
        assert 0.0 <= json.loads(saved)["soc"] <= 100.0

        daemon.start()  # the saved estimate is resumed, not reset to initial_soc
        wait_until(lambda: "bank bank: estimate resumed" in daemon.logs(), 15, what="resume")
        assert daemon.terminate() == 0

        out = subprocess.run(
            [sys.executable, "-m", "edged.cli", "battery", "--json", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        (bank,) = json.loads(out.stdout)["banks"]
        assert bank["id"] == "bank" and bank["device"] == "bank"
        assert bank["soc_source"] == "estimated"
        assert bank["figures"]["records"]["value"] >= 1
        assert bank["figures"]["hours_below_20"]["value"] == 0.0
        text = subprocess.run(
            [sys.executable, "-m", "edged.cli", "battery", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert text.returncode == 0 and "SOC estimé" in text.stdout, text.stderr
    finally:
        daemon.stop()
        sub.stop()
        emulator.stop()


def test_battery_command_rejects_an_unknown_bank(tmp_path):
    config = write_config(tmp_path, devices="", broker_port=None)
    out = subprocess.run(
        [sys.executable, "-m", "edged.cli", "battery", "--id", "nope", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2 and "aucune batterie 'nope' dans [[batteries]]" in out.stderr
    assert Path(config).exists()
