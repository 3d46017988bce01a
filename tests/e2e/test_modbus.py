"""End to end, all real, for the Modbus drivers: a GX simulator (pymodbus Modbus-TCP server on a
free loopback port) and an EPEver simulator (RTU slave on a pty) -> `edged run` (subprocess) ->
mosquitto -> a subscriber.

Values are asserted against the register contents the test writes, so scaling, sign, the GX
scale traps (-10, 0.01), "not available" sentinels and EPEver's low-word-first 32-bit order are
checked through the whole pipeline. Outages: a GX service that starts refusing, an RTU slave that
goes silent, and the GX's TCP server stopped and restarted. The GX's serial (portal id, read once
per connection) reaches the retained `P/device/{device}` and is re-read after a reconnect.
"""

from __future__ import annotations

import json
import time

import pytest

from drivers.modbus.decode import encode_string
from drivers.modbus.mapfile import load_builtin
from drivers.modbus.simulator import EpeverSimulator, GxSimulator
from tests.peers.daemon import DaemonProcess, db_rows, write_config
from tests.peers.replay import wait_until
from tests.peers.subscriber import Subscriber

PREFIX = "e2e"
ROOT = f"{PREFIX}/test-site"
FAST = {"interval": 0.3, "stale_after": 1.0, "offline_after": 2.0, "timeout": 0.25}


def device_toml(dev_id: str, driver: str, **keys: object) -> str:
    lines = [f'id = "{dev_id}"', f'driver = "{driver}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in (FAST | keys).items()]
    return "[[devices]]\n" + "\n".join(lines) + "\n\n"


def gx_device(dev_id: str, sim: GxSimulator, service: str, unit: int) -> str:
    return device_toml(
        dev_id, "victron-gx", host="127.0.0.1", port=sim.port, service=service, unit=unit
    )


def neg(value: int) -> int:
    """The 16-bit two's complement word of a negative register value."""
    return 0x10000 + value


class Watch:
    """What the subscriber saw, per device: telemetry records and published states."""

    def __init__(self, sub: Subscriber) -> None:
        self.sub = sub

    def _payloads(self, kind: str, device: str) -> list[dict]:
        topic = f"{ROOT}/{kind}/{device}"
        return [json.loads(m.payload) for m in self.sub.received(lambda m: m.topic == topic)]

    def records(self, device: str) -> list[dict]:
        return self._payloads("telemetry", device)

    def states(self, device: str) -> list[str]:
        return [p["state"] for p in self._payloads("device", device)]

    def last_state(self, device: str) -> dict:
        return self._payloads("device", device)[-1]

    def metrics(self, device: str, timeout: float = 15) -> dict:
        """The metrics of the first record of `device` (waiting for it)."""
        wait_until(lambda: self.records(device), timeout, what=f"telemetry of {device}")
        return self.records(device)[0]["metrics"]


@pytest.fixture
def watch(broker):
    sub = Subscriber(broker.host, broker.port, f"{PREFIX}/#").start()
    yield Watch(sub)
    sub.stop()


@pytest.fixture
def start_daemon(tmp_path, broker, daemons):
    """`edged run` on these devices, publishing to the test broker (killed at the end)."""

    def start(devices: str) -> DaemonProcess:
        config = write_config(tmp_path, devices=devices, broker_port=broker.port, prefix=PREFIX)
        return daemons(config)

    return start


def test_gx_services_reach_the_broker_and_a_refusing_one_goes_offline(
    gx, watch, start_daemon, broker
):
    bank = gx.bank
    # system (unit 100): 0.1 V, signed 0.1 A and W, whole %, scale -10 Ah, 0.01 (100-s units)
    bank.set_words(100, 3, 840, [264, neg(-123), neg(-325), 87, 2, 185, 36])
    bank.set_words(100, 3, 850, [850, 312])
    bank.set_words(100, 3, 860, [neg(-42)])
    # solar charger (245): 0.01 V, signed 0.1 °C, enums, error code, 0.1 W, 255 = n/a
    bank.set_words(245, 3, 771, [2645, 305, neg(-55), 1, 5, 6820])
    bank.set_words(245, 3, 788, [2, 8456, 28746, 255])
    # battery monitor (247): signed 0.1 A, -10 Ah, 0.1 %, alarm words, 0xFFFF time to go
    bank.set_words(247, 3, 259, [2641, 1280, neg(-75)])
    bank.set_words(247, 3, 265, [185, 875, 2, 2])
    bank.set_words(247, 3, 281, [1234])
    bank.set_words(247, 3, 289, [12])
    bank.set_words(247, 3, 303, [0, 960])  # time to go 0: the GX says "invalid" (not discharging)
    start_daemon(
        gx_device("gx-system", gx, "system", 100)
        + gx_device("gx-solar", gx, "solarcharger", 245)
        + gx_device("gx-battery", gx, "battery", 247)
    )

    system = watch.metrics("gx-system")
    assert system["battery_voltage"] == pytest.approx(26.4)
    assert system["battery_current"] == pytest.approx(-12.3)
    assert system["battery_power"] == pytest.approx(-325)
    assert system["battery_soc"] == 87
    assert system["battery_consumed_ah"] == pytest.approx(-18.5)  # scale -10
    assert system["battery_time_to_go"] == pytest.approx(60.0)  # 36 x 100 s = 60 min
    assert system["pv_power"] == 850 and system["pv_current"] == pytest.approx(31.2)
    assert system["system_power"] == pytest.approx(-42)

    solar = watch.metrics("gx-solar")
    assert solar["battery_voltage"] == pytest.approx(26.45)
    assert solar["battery_current"] == pytest.approx(30.5)
    assert solar["battery_temperature"] == pytest.approx(-5.5)
    assert solar["device_mode"] == "on" and solar["charger_state"] == "float"
    assert solar["pv_voltage"] == pytest.approx(68.2)
    assert solar["charger_error"] == 2 and solar["charger_error_name"] == "battery_voltage_high"
    assert solar["pv_power"] == 846  # 792 (uint32, 1 W) wins over 789 (uint16 x10, 845.6)
    assert solar["yield_total"] == pytest.approx(2874.6)
    assert "tracker_mode" not in solar  # 255 = not available: absent, never a value

    battery = watch.metrics("gx-battery")
    assert battery["battery_voltage"] == pytest.approx(26.41)
    assert battery["battery_starter_voltage"] == pytest.approx(12.8)
    assert battery["battery_current"] == pytest.approx(-7.5)
    assert battery["battery_consumed_ah"] == pytest.approx(-18.5)
    assert battery["battery_soc"] == pytest.approx(87.5)
    assert battery["alarm_on"] == 1 and battery["battery_alarms"] == "low_voltage"
    assert battery["battery_deepest_discharge_ah"] == pytest.approx(-123.4)
    assert battery["battery_seconds_since_full"] == pytest.approx(1200)
    assert battery["battery_soh"] == pytest.approx(96.0)
    assert "battery_time_to_go" not in battery  # 0 = unknown on a GX, never "empty"

    state = watch.last_state("gx-system")
    assert state["state"] == "ok" and state["product"] == "Victron GX (system)"
    assert state["serial"] == "c0619ab1e2f3"  # the simulator's portal id at 800..805
    assert "serial" not in watch.last_state("gx-solar")  # its map reads no identity
    late_comer = Subscriber(broker.host, broker.port, f"{ROOT}/device/gx-system").start()
    try:
        (retained,) = late_comer.wait_for(lambda m: m.retain, 5)
        assert json.loads(retained.payload)["serial"] == "c0619ab1e2f3"
    finally:
        late_comer.stop()

    # The battery service goes away on the GX: its unit answers exceptions from now on.
    bank.refusing.add(247)
    refused = time.time()
    wait_until(lambda: watch.states("gx-battery")[-1:] == ["offline"], 10, what="battery offline")
    assert watch.states("gx-battery")[-3:] == ["ok", "stale", "offline"]
    offline = time.time()
    wait_until(
        lambda: any(r["ts"] >= offline for r in watch.records("gx-system")),
        10,
        what="system telemetry after the battery went offline",
    )
    assert watch.states("gx-system")[-1] == "ok"
    late = [r["ts"] for r in watch.records("gx-battery") if r["ts"] > refused + 0.5]
    assert not late, f"battery records after it stopped answering: {late}"
    counters = watch.last_state("gx-battery")["counters"]
    assert counters["rejected_exception_11"] > 0


def test_epever_on_a_pty_reaches_the_broker_then_silence_is_offline(tmp_path, watch, start_daemon):
    sim = EpeverSimulator(address=1, link=str(tmp_path / "tty-epever"))
    sim.start()
    bank = sim.bank
    bank.set_words(1, 4, 0x3100, [1931, 1245, 0xE240, 0x0001, 1339])  # PV 123456 -> 1234.56 W
    bank.set_words(1, 4, 0x310C, [1338, 46, 482, 0])  # load 13.38 V, 0.46 A, 4.82 W
    bank.set_words(1, 4, 0x3110, [neg(-525), 2261])  # battery -5.25 °C (int16), device 22.61
    bank.set_words(1, 4, 0x311A, [95])
    bank.set_words(1, 4, 0x3200, [0x0002])  # battery under-voltage
    bank.set_words(1, 4, 0x3201, [0b0001_0101])  # running, float, PV input short (D4)
    bank.set_words(1, 4, 0x330C, [35, 0])  # 0.35 kWh today
    bank.set_words(1, 4, 0x3312, [0x86A0, 0x0001])  # low word first: 100000 -> 1000.00 kWh
    bank.set_words(1, 4, 0x331B, [0xFFD2, 0xFFFF])  # int32 -46 -> -0.46 A
    try:
        start_daemon(device_toml("tracer", "epever", port=str(sim.link), address=1))
        m = watch.metrics("tracer")
        assert m["pv_voltage"] == pytest.approx(19.31)
        assert m["pv_current"] == pytest.approx(12.45)
        assert m["pv_power"] == pytest.approx(1234.56)
        assert m["battery_voltage"] == pytest.approx(13.39)
        assert m["load_voltage"] == pytest.approx(13.38)
        assert m["load_current"] == pytest.approx(0.46) and m["load_power"] == pytest.approx(4.82)
        assert m["battery_temperature"] == pytest.approx(-5.25)
        assert m["charger_temperature"] == pytest.approx(22.61)
        assert m["battery_soc"] == 95
        assert m["battery_alarms"] == "under_voltage"
        assert m["charger_state"] == "float"
        assert m["charger_error"] == 0x10 and m["charger_error_name"] == "pv_input_short"
        assert m["yield_today"] == pytest.approx(0.35)
        assert m["yield_total"] == pytest.approx(1000.0)
        assert m["battery_current"] == pytest.approx(-0.46)
        assert watch.last_state("tracer")["product"] == "EPEver Tracer"

        sim.mangle = lambda _frame: b""  # the slave stops answering (cable cut on the A/B pair)
        silenced = time.time()
        wait_until(lambda: watch.states("tracer")[-1:] == ["offline"], 10, what="tracer offline")
        assert watch.states("tracer")[-3:] == ["ok", "stale", "offline"]
        late = [r["ts"] for r in watch.records("tracer") if r["ts"] > silenced + 0.5]
        assert not late, f"records after the slave went silent: {late}"
        assert watch.last_state("tracer")["counters"]["rejected_timeout"] > 0

        sim.mangle = None
        wait_until(lambda: watch.states("tracer")[-1] == "ok", 10, what="tracer ok again")
    finally:
        sim.stop()


def test_gx_server_restart_resumes_polling(tmp_path, gx, watch, start_daemon):
    start_daemon(gx_device("gx-system", gx, "system", 100))
    db = tmp_path / "edged.db"
    assert watch.metrics("gx-system")["battery_soc"] == 87  # the simulator's site profile

    assert watch.last_state("gx-system")["serial"] == "c0619ab1e2f3"

    gx.stop()
    wait_until(lambda: watch.states("gx-system")[-1] == "stale", 10, what="stale while down")
    gx.bank.set_value(100, "battery_soc", 64)
    serial_row = load_builtin("victron_gx_system").info[0]
    gx.bank.set_words(100, 3, 800, encode_string(serial_row, "HQ2231ABCDE"))  # GX swapped
    last_seq = db_rows(db, "SELECT max(seq) FROM samples")[0][0]
    restarted = time.time()
    gx.start()
    wait_until(
        lambda: db_rows(db, "SELECT max(seq) FROM samples")[0][0] > last_seq,
        10,
        what="samples stored after the GX came back",
    )
    wait_until(lambda: watch.states("gx-system")[-1] == "ok", 10, what="ok again")
    assert watch.last_state("gx-system")["serial"] == "HQ2231ABCDE"  # re-read on reconnect
    wait_until(
        lambda: [r for r in watch.records("gx-system") if r["metrics"]["battery_soc"] == 64],
        10,
        what="telemetry with the value written while the GX was down",
    )
    fresh = [r for r in watch.records("gx-system") if r["metrics"]["battery_soc"] == 64]
    assert all(r["ts"] > restarted - 1.0 for r in fresh)  # window starts are floored to 1 s


def test_two_epevers_on_one_bus_publish_and_a_silent_one_does_not_blank_the_other(
    tmp_path, watch, start_daemon
):
    sim = EpeverSimulator(address=(1, 2), link=str(tmp_path / "tty-rs485"))
    sim.bank.set_words(1, 4, 0x311A, [95])
    sim.bank.set_words(2, 4, 0x311A, [44])
    sim.start()
    # timeout 0.1 s: a silent slave keeps the bus 0.2 s per poll (two attempts), inside the
    # 0.3 s poll window, so the healthy slave still gets its turn every interval
    bus = {"port": str(sim.link), "timeout": 0.1}
    try:
        start_daemon(
            device_toml("tracer-a", "epever", address=1, **bus)
            + device_toml("tracer-b", "epever", address=2, **bus)
        )
        assert watch.metrics("tracer-a")["battery_soc"] == 95
        assert watch.metrics("tracer-b")["battery_soc"] == 44

        sim.silent.add(2)  # controller b's A/B pair cut; a stays wired
        silenced = time.time()
        wait_until(lambda: watch.states("tracer-b")[-1:] == ["offline"], 10, what="b offline")
        assert watch.states("tracer-b")[-3:] == ["ok", "stale", "offline"]
        offline = time.time()
        wait_until(
            lambda: len([r for r in watch.records("tracer-a") if r["ts"] >= offline]) >= 2,
            10,
            what="a's telemetry after b went offline",
        )
        assert all(r["metrics"]["battery_soc"] == 95 for r in watch.records("tracer-a"))
        assert set(watch.states("tracer-a")) == {"ok"}  # never stale while b was dying
        late = [r["ts"] for r in watch.records("tracer-b") if r["ts"] > silenced + 0.5]
        assert not late, f"records of the silent slave: {late}"
    finally:
        sim.stop()
