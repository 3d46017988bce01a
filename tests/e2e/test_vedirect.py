"""End to end, all real: a serial device on a pty -> `edged run` (subprocess) -> mosquitto ->
a subscriber. Covers decoded values, outages of the broker, SIGKILL, and a USB cable pulled out.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.victron.vedirect.emulator import PtyEmulator
from tests.peers.daemon import db_rows, write_config
from tests.peers.replay import ReplayPty, wait_until
from tests.peers.subscriber import Subscriber

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
PREFIX = "e2e"


def capture_bytes(name: str) -> bytes:
    text = (CAPTURES / name).read_text()
    return bytes.fromhex(" ".join(ln for ln in text.splitlines() if not ln.startswith("#")))


def device_toml(dev_id: str, port: Path, **extra: float) -> str:
    keys = "".join(f"{k} = {v}\n" for k, v in extra.items())
    return f'[[devices]]\nid = "{dev_id}"\ndriver = "vedirect"\nport = "{port}"\n{keys}\n'


def records_seen(sub: Subscriber, device: str) -> set[float]:
    """Timestamps of every record of `device` received live or as history."""
    seen: set[float] = set()
    for topic, payload, _retain in list(sub.messages):
        if topic == f"{PREFIX}/test-site/telemetry/{device}":
            seen.add(json.loads(payload)["ts"])
        elif topic == f"{PREFIX}/test-site/history/{device}":
            seen.update(s["ts"] for s in json.loads(payload)["samples"])
    return seen


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


def test_captured_bmv_frames_reach_the_broker_with_exact_values(workdir, broker, daemons):
    port = ReplayPty(workdir / "tty-bmv", [capture_bytes("vedirect_a3_bmv700_main_history.hex")])
    port.start()
    sub = Subscriber(broker.host, broker.port, f"{PREFIX}/#")
    sub.start()
    config = write_config(
        workdir,
        devices=device_toml("bmv", port.link, interval=0.2),
        broker_port=broker.port,
        prefix=PREFIX,
    )
    daemon = daemons(config)
    try:
        msgs = sub.wait_for(lambda m: m.topic.endswith("/telemetry/bmv"), timeout=20)
        record = json.loads(msgs[0][1])
        metrics = record["metrics"]
        assert metrics["battery_voltage"] == pytest.approx(12.065)
        assert metrics["battery_current"] == pytest.approx(-7.625)
        assert metrics["battery_power"] == pytest.approx(-92)
        assert metrics["battery_consumed_ah"] == pytest.approx(-65.473)
        assert metrics["battery_soc"] == pytest.approx(83.9)
        assert metrics["battery_time_to_go"] == pytest.approx(942)
        assert metrics["energy_discharged_total"] == pytest.approx(68.43)
        assert metrics["energy_charged_total"] == pytest.approx(85.27)
        assert abs(record["ts"] - time.time()) < 30
        # retained: a dashboard that connects now still gets status and device state
        late = Subscriber(broker.host, broker.port, f"{PREFIX}/#").start()
        status = late.wait_for(lambda m: m.topic == f"{PREFIX}/test-site/status", timeout=5)
        assert status[-1].payload == b"online" and status[-1].retain
        state = late.wait_for(lambda m: m.topic.endswith("/device/bmv"), timeout=10)
        payload = json.loads(state[-1].payload)
        assert state[-1].retain
        assert payload["state"] == "ok" and payload["product"] == "BMV-700"
        late.stop()

        def verdict() -> str:
            out = subprocess.run(
                [sys.executable, "-m", "edged.cli", "status", "--config", str(config)],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert out.returncode == 0, out.stderr
            return out.stdout

        # the live view the CLI reads can predate the first reading by up to a main-loop pass
        said: list[str] = []
        try:
            wait_until(lambda: said.append(verdict()) or said[-1].startswith("TOUT VA BIEN — "), 20)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the last verdict: {said[-1]!r}") from exc
        assert "Batterie : 84 %" in said[-1]
        out = subprocess.run(
            [sys.executable, "-m", "edged.cli", "status", "--details", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "EN LIGNE" in out.stdout and "12,065 V" in out.stdout
        out = subprocess.run(
            [sys.executable, "-m", "edged.cli", "status", "--json", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        data = json.loads(out.stdout)
        (bmv,) = data["devices"]
        assert bmv["state"] == "ok" and bmv["latest"]["metrics"]["battery_soc"] == 83.9
        assert daemon.terminate() == 0
        offline = sub.wait_for(
            lambda m: m.topic.endswith("/status") and m.payload == b"offline", 10
        )
        assert offline
    finally:
        sub.stop()
        port.stop()


def test_broker_outage_loses_nothing(workdir, broker, daemons):
    emulator = PtyEmulator("mppt", link=str(workdir / "tty-mppt"), interval=0.2, seed=3)
    emulator.start()
    sub = Subscriber(broker.host, broker.port, f"{PREFIX}/#")
    sub.start()
    config = write_config(
        workdir,
        devices=device_toml("mppt", Path(emulator.path), interval=0.2),
        broker_port=broker.port,
        prefix=PREFIX,
    )
    daemons(config)
    db = workdir / "edged.db"
    try:
        sub.wait_for(lambda m: m.topic.endswith("/telemetry/mppt"), timeout=20)
        sub.stop()
        broker.stop()
        before = len(db_rows(db, "SELECT id FROM records"))
        wait_until(
            lambda: len(db_rows(db, "SELECT id FROM records")) >= before + 4,
            timeout=20,
            what="records stored while the broker is down",
        )
        broker.start()
        late = Subscriber(broker.host, broker.port, f"{PREFIX}/#")
        late.start()
        wait_until(
            lambda: not db_rows(db, "SELECT record_id FROM outbox"), 30, what="outbox drained"
        )
        stored = {ts for (ts,) in db_rows(db, "SELECT ts FROM records WHERE device='mppt'")}
        seen = records_seen(sub, "mppt") | records_seen(late, "mppt")
        assert stored <= seen, f"never received: {sorted(stored - seen)}"
        assert any(t.endswith("/history/mppt") for t, _, _ in late.messages)
        late.stop()
    finally:
        emulator.stop()


def test_sigkill_loses_no_stored_record(workdir, broker, daemons):
    emulator = PtyEmulator("mppt", link=str(workdir / "tty-mppt"), interval=0.2, seed=4)
    emulator.start()
    broker.stop()  # the uplink is down: records pile up in the outbox
    config = write_config(
        workdir,
        devices=device_toml("mppt", Path(emulator.path), interval=0.2),
        broker_port=broker.port,
        prefix=PREFIX,
    )
    db = workdir / "edged.db"
    try:
        daemon = daemons(config)
        wait_until(lambda: len(db_rows(db, "SELECT id FROM records")) >= 3, 20, what="records")
        daemon.kill()
        (check,) = db_rows(db, "PRAGMA integrity_check")
        assert check == ("ok",)
        records = set(db_rows(db, "SELECT device, ts FROM records"))
        samples = db_rows(db, "SELECT count(*) FROM samples")[0][0]
        broker.start()
        sub = Subscriber(broker.host, broker.port, f"{PREFIX}/#")
        sub.start()
        daemons(config)
        wait_until(
            lambda: {("mppt", ts) for ts in records_seen(sub, "mppt")} >= records,
            30,
            what="every record stored before the kill",
        )
        assert db_rows(db, "SELECT count(*) FROM samples")[0][0] >= samples
        sub.stop()
    finally:
        emulator.stop()


def test_unplugged_cable_goes_stale_then_offline_and_resumes(workdir, broker, daemons):
    emulator = PtyEmulator("mppt", link=str(workdir / "tty-mppt"), interval=0.2, seed=5)
    emulator.start()
    sub = Subscriber(broker.host, broker.port, f"{PREFIX}/#")
    sub.start()
    device = device_toml(
        "mppt", Path(emulator.path), interval=0.2, stale_after=1.5, offline_after=3
    )
    config = write_config(workdir, devices=device, broker_port=broker.port, prefix=PREFIX)
    daemons(config)
    db = workdir / "edged.db"

    def states() -> list[str]:
        return [
            json.loads(p)["state"] for t, p, _ in list(sub.messages) if t.endswith("/device/mppt")
        ]

    try:
        wait_until(lambda: "ok" in states(), 20, what="device ok")
        emulator.unplug()
        unplugged = time.time()
        wait_until(lambda: states()[-1] == "offline", 15, what="device offline")
        assert states()[-2:] == ["stale", "offline"]
        time.sleep(2.5)  # more than a publish window with the cable out
        fresh = [
            json.loads(p)
            for t, p, _ in list(sub.messages)
            if t.endswith("/telemetry/mppt") and json.loads(p)["ts"] > unplugged
        ]
        assert not fresh, "a record newer than the unplug was published while offline"
        last_seq = db_rows(db, "SELECT max(seq) FROM samples")[0][0]
        emulator.replug()
        replugged = time.monotonic()
        wait_until(
            lambda: db_rows(db, "SELECT max(seq) FROM samples")[0][0] > last_seq,
            10,
            what="samples after replug",
        )
        assert time.monotonic() - replugged < 10
        wait_until(lambda: states()[-1] == "ok", 10, what="device ok again")
    finally:
        sub.stop()
        emulator.stop()
