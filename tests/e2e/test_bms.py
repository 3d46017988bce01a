"""End to end for the four BMS drivers, all real: a protocol emulator on a pty (behind a stable
link, like /dev/serial/by-id) -> `edged run` (subprocess) -> mosquitto -> a subscriber.

For each protocol the published record must equal the emulated pack state, the retained device
state must carry what the protocol says about the device, and a BMS that stops answering must go
stale then offline (publishing nothing new meanwhile) and come back ok. The driver options in
the configs are the ones the emulators speak, so this also proves options flow from TOML to wire.

Pylontech: one device only, at address 3 on a bus where packs 2 and 3 answer. Two devices on
one port (one runner per device, each opening the pty) is not supported: both runners read the
same port, steal and split each other's answers (docs/drivers-bms.md, "Several packs on one
port").

Also here, without the daemon: `make_emulator` (what `edged simulate` starts) serves a seeded pack
behind a link, and an RS485 adapter echoing every request changes no decoded value.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from drivers.base import DeviceUnavailable
from drivers.battery.daly import emulator as daly
from drivers.battery.emulators import BUILDERS, LinkedEmulator, make_emulator
from drivers.battery.jbd import emulator as jbd
from drivers.battery.jkbms import emulator as jkbms
from drivers.battery.ptyemu import PtyEmulator
from drivers.battery.pylontech import emulator as pylontech
from drivers.registry import registry
from edged.config.loader import load
from edged.metrics import CATALOGUE
from tests.peers.daemon import DaemonProcess, write_config
from tests.peers.replay import wait_until
from tests.peers.subscriber import Message, Subscriber

PREFIX = "e2e"
INFO_KEYS = ("product", "serial", "firmware")


@dataclass(frozen=True)
class Case:
    driver: str
    emulator: Callable[[], PtyEmulator]
    options: dict[str, object]
    metrics: dict[str, float | int | str]
    """Exactly the metrics the record must hold, worked out by hand from the emulated state."""
    info: dict[str, str] = field(default_factory=dict)


PYLONTECH = Case(
    "pylontech",
    lambda: pylontech.PtyBmsEmulator(
        {
            2: pylontech.PackState(),  # the master, on the bus but not polled
            3: pylontech.PackState(
                cells_mv=[3301, 3305, 3299, 3310] + [3302] * 11,
                temps_c=[31.0, 27.0, 28.0, 29.0, 30.0, 44.0],  # board, 4 cell groups, MOSFET
                current_raw=125,  # 0.1 A, + = charging
                remaining_mah=52000,
                total_mah=100000,
                cycles=143,
                status1=0x44,  # bit 2 charge overcurrent, bit 6 charge overtemperature
                status2=0x04,  # charge MOSFET off, discharge MOSFET on
            ),
        }
    ),
    {"address": 3, "baudrate": 9600, "current_unit": "100mA"},
    {
        "battery_voltage": 49.537,
        "battery_current": 12.5,
        "battery_soc": 52.0,
        "battery_remaining_ah": 52.0,
        "battery_capacity": 100.0,
        "battery_cycles": 143,
        "cell_voltage_min": 3.299,
        "cell_voltage_max": 3.310,
        "cell_voltage_delta": 0.011,
        "cell_count": 15,
        "bms_temperature": 31.0,
        "battery_temperature": 28.5,
        "mosfet_temperature": 44.0,
        "battery_alarms": "charge_overcurrent,charge_overtemperature",
        "charge_enabled": 0,
        "discharge_enabled": 1,
    },
)
JBD = Case(
    "jbd",
    lambda: jbd.PtyBmsEmulator(
        jbd.PackState(
            voltage=13.24,
            current=5.5,
            remaining_ah=80.0,
            capacity_ah=100.0,
            cycles=17,
            soc=80,
            protection=0x0101,  # bit 0 cell overvoltage, bit 8 charge overcurrent
            fet=0x02,  # charge FET off, discharge FET on
            cells_mv=[3310, 3312, 3305, 3313],
            temps_c=[38.0, 25.0, 26.0],  # MOSFET first, then the cell probes
        )
    ),
    {"current_sign": "normal"},
    {
        "battery_voltage": 13.24,
        "battery_current": 5.5,
        "battery_soc": 80,
        "battery_remaining_ah": 80.0,
        "battery_capacity": 100.0,
        "battery_cycles": 17,
        "cell_voltage_min": 3.305,
        "cell_voltage_max": 3.313,
        "cell_voltage_delta": 0.008,
        "cell_count": 4,
        "battery_temperature": 25.5,
        "mosfet_temperature": 38.0,
        "battery_alarms": "cell_overvoltage,charge_overcurrent",
        "charge_enabled": 0,
        "discharge_enabled": 1,
        "balancing": 0,
    },
    {"firmware": "8.0"},
)
DALY = Case(
    "daly",
    lambda: daly.PtyBmsEmulator(
        daly.PackState(
            voltage=26.4,
            current=-7.5,  # discharging: 29925 on the wire
            soc=76.5,
            cells_mv=[3301, 3305, 3298, 3310, 3302, 3299, 3304, 3307],
            temp_max=27,
            temp_min=24,
            remaining_mah=76500,
            cycles=12,
            failures=1 | 1 << 8,  # cell voltage high L1, charge temperature high L1
        )
    ),
    {"address": 1},
    {
        "battery_voltage": 26.4,
        "battery_current": -7.5,
        "battery_soc": 76.5,
        "battery_remaining_ah": 76.5,
        "battery_cycles": 12,
        "cell_voltage_min": 3.298,
        "cell_voltage_max": 3.310,
        "cell_voltage_delta": 0.012,
        "cell_count": 8,
        "battery_temperature": 27,
        "battery_alarms": "cell_voltage_high_level1,charge_temperature_high_level1",
        "charge_enabled": 1,
        "discharge_enabled": 1,
    },
)
JKBMS = Case(
    "jkbms",
    lambda: jkbms.PtyBmsEmulator(
        jkbms.PackState(
            voltage=26.57,
            current=-4.25,  # protocol version 1: bit 15 clear = discharging
            soc=64,
            cycles=9,
            capacity_ah=100,
            mos_c=31,
            battery_c=-3,
            warnings=1 | 1 << 11,  # low capacity, cell undervoltage
            status=0b0101,  # charge MOS on, discharge MOS off, balancer on
        )
    ),
    {"current_encoding": "sign_bit", "baudrate": 115200},
    {
        "battery_voltage": 26.57,
        "battery_current": -4.25,
        "battery_soc": 64,
        "battery_capacity": 100,
        "battery_cycles": 9,
        "cell_voltage_min": 3.318,
        "cell_voltage_max": 3.325,
        "cell_voltage_delta": 0.007,
        "cell_count": 8,
        "bms_temperature": 31,
        "battery_temperature": -3,
        "battery_alarms": "low_capacity,cell_undervoltage",
        "charge_enabled": 1,
        "discharge_enabled": 0,
        "balancing": 1,
    },
    {"product": "EMULATED", "firmware": "11.XW_S11.26"},
)


def device_toml(case: Case, dev_id: str, port: str) -> str:
    options = "".join(f"{k} = {json.dumps(v)}\n" for k, v in {"port": port, **case.options}.items())
    return (
        f'[[devices]]\nid = "{dev_id}"\ndriver = "{case.driver}"\n{options}'
        "interval = 0.3\nstale_after = 1.0\noffline_after = 2.0\n"
    )


def assert_same_metrics(got: dict, want: dict) -> None:
    assert set(got) == set(want), f"extra {set(got) - set(want)}, missing {set(want) - set(got)}"
    for name, value in want.items():
        if isinstance(value, str):
            assert got[name] == value, name
        else:
            assert got[name] == pytest.approx(value, abs=1e-6), name


@pytest.mark.parametrize("case", [PYLONTECH, JBD, DALY, JKBMS], ids=lambda c: c.driver)
def test_pack_state_is_published_and_silence_goes_stale_offline_then_ok(case, tmp_path, broker):
    dev = f"bms-{case.driver}"
    emulator = LinkedEmulator(case.emulator(), str(tmp_path / f"tty-{dev}")).start()
    sub = Subscriber(broker.host, broker.port, f"{PREFIX}/#").start()
    config = write_config(
        tmp_path,
        devices=device_toml(case, dev, emulator.path),
        broker_port=broker.port,
        prefix=PREFIX,
        publish_interval=1.0,
        commit_interval=0.5,
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log")

    def is_record(m: Message) -> bool:
        return m.topic == f"{PREFIX}/test-site/telemetry/{dev}"

    def states() -> list[dict]:
        topic = f"{PREFIX}/test-site/device/{dev}"
        return [json.loads(m.payload) for m in sub.received(lambda m: m.topic == topic)]

    def last_state() -> str | None:
        seen = states()
        return seen[-1]["state"] if seen else None

    try:
        daemon.start()
        first = json.loads(sub.wait_for(is_record, timeout=20)[0].payload)
        assert_same_metrics(first["metrics"], case.metrics)
        assert abs(first["ts"] - time.time()) < 30
        wait_until(lambda: last_state() == "ok", 10, what="device ok")
        ok = states()[-1]
        assert {k: ok.get(k) for k in INFO_KEYS} == {k: case.info.get(k) for k in INFO_KEYS}
        # every cell's voltage travels in the device data, beside the min/max/delta metrics
        cells = ok["data"]["cell_voltages"].split(",")
        assert len(cells) == case.metrics["cell_count"]
        assert min(float(c) for c in cells) == case.metrics["cell_voltage_min"]

        emulator.set_fault("silent")
        silenced = time.time()
        wait_until(lambda: last_state() == "offline", 15, what="device offline")
        assert [s["state"] for s in states()][-2:] == ["stale", "offline"]
        # No window that began after the BMS fell silent may hold data (0.5 s: a poll in flight).
        late = [json.loads(m.payload)["ts"] for m in sub.received(is_record)]
        assert not [ts for ts in late if ts > silenced + 0.5], "published data while silent"

        emulator.set_fault("ok")
        wait_until(lambda: last_state() == "ok", 10, what="device ok again")
        fresh = sub.wait_for(
            lambda m: is_record(m) and json.loads(m.payload)["ts"] > silenced + 0.5, timeout=10
        )
        assert_same_metrics(json.loads(fresh[0].payload)["metrics"], case.metrics)
        assert daemon.terminate() == 0, daemon.logs()[-2000:]
    finally:
        daemon.stop()
        sub.stop()
        emulator.stop()


@pytest.mark.parametrize("protocol", sorted(BUILDERS))
def test_make_emulator_serves_a_seeded_pack_behind_a_stable_link(protocol, tmp_path):
    """What `edged simulate` relies on: a link path and a seed are enough, the driver's default
    options read it through a validated config, the same seed gives the same pack, and stopping
    removes the link like an unplugged adapter."""
    link = str(tmp_path / f"tty-{protocol}")
    device = f'[[devices]]\nid = "bms"\ndriver = "{protocol}"\nport = "{link}"\n'
    (dev,) = load(str(write_config(tmp_path, devices=device, broker_port=None))).devices
    readings = []
    for seed in (7, 7, 8):
        emulator = make_emulator(protocol, link, seed=seed).start()
        driver = registry()[protocol].factory(dev.options)
        try:
            assert emulator.path == link and os.readlink(link) == emulator.emulator.path
            driver.open()
            (reading,) = driver.read(time.monotonic() + 2)
            readings.append(reading.metrics)
            emulator.stop()
            assert not os.path.lexists(link)
            with pytest.raises(DeviceUnavailable):
                driver.read(time.monotonic() + 0.5)
        finally:
            driver.close()
            emulator.stop()
    assert readings[0] == readings[1] != readings[2]
    assert set(readings[0]) <= set(CATALOGUE)
    assert readings[0]["battery_soc"] > 0 and readings[0]["cell_voltage_min"] > 3


@pytest.mark.parametrize("protocol", sorted(BUILDERS))
def test_an_adapter_echoing_each_request_changes_no_value(protocol, tmp_path):
    """2-wire RS485 adapters hear their own transmission: every request comes back before its
    answer. The echo is a valid frame of the protocol; it must be counted, never decoded (Daly
    read it as 0 V and -3000 A, Pylontech as a failed return code)."""
    emulator = make_emulator(protocol, str(tmp_path / "tty-echo"), seed=3).start()
    driver = registry()[protocol].factory({"port": emulator.path})
    try:
        driver.open()
        (clean,) = driver.read(time.monotonic() + 2)
        emulator.set_fault("echo")
        (echoed,) = driver.read(time.monotonic() + 2)
    finally:
        driver.close()
        emulator.stop()
    assert echoed.metrics == clean.metrics
    assert driver.counters.reasons["unexpected"] >= 1
