"""End to end, all real: `edged run` (subprocess) with a health round, an HTTP server standing in
for OpenClinic, a VE.Direct device on a pty, mosquitto, and `edged alarms` / `edged status`.
The only stand-in is the sysfs tree holding the Raspberry Pi firmware flags (`[health]
sysfs_root`): this machine is not a Pi.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from drivers.victron.vedirect.emulator import PtyEmulator
from tests.peers.broker import free_port
from tests.peers.daemon import DaemonProcess, db_rows, write_config
from tests.peers.replay import wait_until
from tests.peers.subscriber import Subscriber

PREFIX = "e2eh"
ROOT = f"{PREFIX}/test-site"


class Clinic:
    """A real HTTP server answering like OpenClinic; `down()` closes its socket, `up()` reopens."""

    def __init__(self) -> None:
        self.port = free_port()
        self.httpd: HTTPServer | None = None

    def up(self) -> None:
        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = b"<html>OpenClinic GA</html>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = HTTPServer(("127.0.0.1", self.port), Page)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def down(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


def fake_pi(root: Path) -> None:
    """Firmware flags as the kernel shows them after an under-voltage event (0x50000)."""
    flags = root / "sys/devices/platform/soc/soc:firmware/get_throttled"
    flags.parent.mkdir(parents=True)
    flags.write_text("50000\n")
    (root / "sys/class/thermal/thermal_zone0").mkdir(parents=True)
    (root / "sys/class/thermal/thermal_zone0/temp").write_text("51234\n")


def edged(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edged.cli", *args], capture_output=True, text=True, timeout=30
    )


def alarm(sub: Subscriber, alarm_id: str, active: bool, timeout: float = 20) -> dict:
    topic = f"{ROOT}/alarm/{alarm_id}"
    msgs = sub.wait_for(
        lambda m: m.topic == topic and json.loads(m.payload)["active"] is active, timeout
    )
    return json.loads(msgs[-1].payload)


@pytest.fixture
def clinic():
    c = Clinic()
    c.up()
    yield c
    c.down()


def test_health_round_alarms_end_to_end(tmp_path, broker, clinic):
    fake_pi(tmp_path / "sysroot")
    emulator = PtyEmulator("mppt", link=str(tmp_path / "tty-mppt"), interval=0.2, seed=5).start()
    extra = f"""
[health]
interval = 0.3
data_path = "{tmp_path}"
sysfs_root = "{tmp_path / "sysroot"}"

[[health.checks]]
name = "openclinic"
kind = "http"
url = "http://127.0.0.1:{clinic.port}/openclinic/"
expect_text = "OpenClinic"
timeout = 2

[alarms.openclinic_down]
delay = 0

[alarms.device_offline]
delay = 0
"""
    devices = (
        f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{emulator.path}"\n'
        "interval = 0.2\nstale_after = 1\noffline_after = 2\n"
    )
    config = write_config(
        tmp_path, devices=devices, broker_port=broker.port, prefix=PREFIX, extra=extra
    )
    sub = Subscriber(broker.host, broker.port, f"{PREFIX}/#").start()
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    daemon.start()
    try:
        # P/health/pibox: values from the fake firmware tree, not retained
        (pibox,) = sub.wait_for(lambda m: m.topic == f"{ROOT}/health/pibox", 20)[:1]
        body = json.loads(pibox.payload)
        assert (
            not pibox.retain and body["ok"] is True and body["values"]["throttled_raw"] == 0x50000
        )
        assert body["values"]["under_voltage_occurred"] is True
        assert body["values"]["cpu_temperature"] == pytest.approx(51.234)
        assert alarm(sub, "pibox_undervoltage.pibox", True)["severity"] == "warning"
        sub.wait_for(
            lambda m: m.topic == f"{ROOT}/health/openclinic" and json.loads(m.payload)["ok"], 10
        )
        assert not sub.received(lambda m: m.topic.startswith(f"{ROOT}/alarm/openclinic"))

        clinic.down()
        raised = alarm(sub, "openclinic_down.openclinic", True)
        assert raised["severity"] == "critical"
        assert raised["message"] == "openclinic ne répond pas : OpenClinic est inaccessible."
        clinic.up()
        cleared = alarm(sub, "openclinic_down.openclinic", False)
        assert cleared["since"] == raised["since"] and cleared["cleared"] >= raised["since"]
        fresh = Subscriber(broker.host, broker.port, f"{ROOT}/alarm/#").start()
        try:  # the retained state a dashboard connecting now sees
            last = fresh.wait_for(lambda m: m.topic.endswith("/openclinic_down.openclinic"), 5)
            assert last[-1].retain and json.loads(last[-1].payload)["active"] is False
        finally:
            fresh.stop()

        sub.wait_for(
            lambda m: m.topic == f"{ROOT}/device/mppt" and json.loads(m.payload)["state"] == "ok",
            20,
        )
        emulator.unplug()
        offline = alarm(sub, "device_offline.mppt", True)
        assert offline["message"] == "mppt ne répond plus (câble, alimentation ?)."

        db = tmp_path / "edged.db"
        wait_until(
            lambda: db_rows(
                db, "SELECT id FROM alarms WHERE alarm_id = 'device_offline.mppt' AND active = 1"
            ),
            10,
            what="the offline alarm stored",
        )
        listed = edged("alarms", "--json", "--config", str(config))
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert [r["alarm_id"] for r in rows if r["active"]] == [
            "device_offline.mppt",
            "pibox_undervoltage.pibox",
        ]
        assert [r["alarm_id"] for r in rows if not r["active"]] == ["openclinic_down.openclinic"]
        text = edged("alarms", "--config", str(config)).stdout
        assert text.startswith("Alarmes actives (2) :") and "mppt ne répond plus" in text
        number = rows[0]["id"]
        acked = edged("alarms", "ack", str(number), "--by", "Awa", "--config", str(config))
        assert acked.returncode == 0 and f"#{number} acquittée par Awa" in acked.stdout
        (row,) = db_rows(
            db, f"SELECT acked_by, acked_at IS NOT NULL FROM alarms WHERE id = {number}"
        )
        assert row == ("Awa", 1)
        assert edged("alarms", "ack", "999", "--config", str(config)).returncode == 1

        status = wait_until(
            lambda: (
                (out := edged("status", "--details", "--config", str(config)).stdout)
                and "Équipements" in out
                and "mppt ne répond plus" in out
                and out
            ),
            15,
            what="status with equipment and alarms",
        )
        assert "openclinic : répond" in status and "disque" in status
        assert "sous-tension vue depuis le démarrage" in status
        assert "[acquittée par Awa]" in status
        staff = edged("status", "--config", str(config)).stdout  # the nurse's view of the same
        assert staff.startswith("APPELER LE TECHNICIEN — "), staff
        assert "mppt ne répond pas" in staff and "acquittée par Awa" in staff
        assert len(staff.splitlines()) <= 12
        assert daemon.terminate() == 0
    finally:
        daemon.stop()
        sub.stop()
        emulator.stop()
