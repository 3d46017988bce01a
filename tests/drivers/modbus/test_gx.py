"""victron-gx driver against a real pymodbus Modbus-TCP server (the GX simulator) on loopback."""

from __future__ import annotations

import time

import pytest

from drivers.base import DeviceUnavailable, ProtocolError
from drivers.modbus.decode import encode_string
from drivers.modbus.mapfile import load_builtin
from drivers.modbus.regmap import MapError
from drivers.modbus.simulator import GxSimulator
from drivers.modbus.spec import GX
from edged.metrics import CATALOGUE


def driver(sim: GxSimulator, **opts):
    options = {"host": "127.0.0.1", "port": sim.port, "service": "system", "unit": None}
    options |= {"timeout": 0.5, "map": None} | opts
    d = GX.factory(options)
    d.open()
    return d


def poll(d):
    (reading,) = d.read(time.monotonic() + 3)
    return reading


def test_system_values_match_register_contents(gx):
    gx.bank.set_words(100, 3, 840, [264, 0x10000 - 123, 0x10000 - 325, 87, 2, 185, 36])
    gx.bank.set_words(100, 3, 850, [850, 312])
    d = driver(gx)
    r = poll(d)
    assert r.metrics["battery_voltage"] == 26.4
    assert r.metrics["battery_current"] == -12.3
    assert r.metrics["battery_power"] == -325
    assert r.metrics["battery_soc"] == 87
    assert r.metrics["battery_consumed_ah"] == -18.5
    assert r.metrics["battery_time_to_go"] == 60.0
    assert (r.metrics["pv_power"], r.metrics["pv_current"]) == (850, 31.2)
    assert r.info == {"product": "Victron GX (system)", "serial": "c0619ab1e2f3"}
    assert d.counters.accepted == 5 and d.counters.rejected == 0  # 1 info + 4 telemetry blocks
    assert all(CATALOGUE[m] for m in r.metrics)
    d.close()


def test_solarcharger_and_battery_services(gx):
    gx.bank.set_words(245, 3, 775, [5])
    gx.bank.set_words(245, 3, 790, [28746])
    solar = poll(driver(gx, service="solarcharger", unit=245))
    assert solar.metrics["charger_state"] == "float"
    assert solar.metrics["yield_total"] == 2874.6
    gx.bank.set_words(247, 3, 266, [875])
    gx.bank.set_words(247, 3, 303, [0xFFFF])
    batt = poll(driver(gx, service="battery", unit=247))
    assert batt.metrics["battery_soc"] == 87.5
    assert "battery_time_to_go" not in batt.metrics  # 0xFFFF = unknown, never a number


def test_battery_power_from_the_32_bit_register_else_the_16_bit_one(gx):
    """/Dc/0/Power: 258 int16 (firmware since 2022), 256 int32 (newer); issue 13 item 7."""
    gx.bank.set_words(247, 3, 256, [0xFFFF, 0x10000 - 325, 0x10000 - 325])
    batt = poll(driver(gx, service="battery", unit=247))
    assert batt.metrics["battery_power"] == -325
    # -40 kW only fits the int32; the int16 is pinned at its floor
    gx.bank.set_words(247, 3, 256, [0xFFFF, 0x10000 - 40000, 0x8000])
    assert poll(driver(gx, service="battery", unit=247)).metrics["battery_power"] == -40000
    for address in (256, 257):  # firmware of 2022-2024: no int32 row
        del gx.bank.units[247][(3, address)]
    d = driver(gx, service="battery", unit=247)
    assert poll(d).metrics["battery_power"] == -32768
    del gx.bank.units[247][(3, 258)]  # before late 2022: no power register at all
    d = driver(gx, service="battery", unit=247)
    r = poll(d)
    assert "battery_power" not in r.metrics
    assert r.metrics["battery_soc"] > 0 and "battery_voltage" in r.metrics  # neighbours still read
    assert d.counters.reasons == {"exception_2": 2}


def test_pv_power_above_6553_w_from_the_32_bit_register(gx):
    """789 (uint16, 0.1 W) tops out at 6553.5 W; 792 (uint32 W) where the firmware has it."""
    gx.bank.set_words(245, 3, 789, [0xFFFF])
    gx.bank.set_words(245, 3, 792, [0, 8200])
    assert poll(driver(gx, service="solarcharger", unit=245)).metrics["pv_power"] == 8200
    for address in (792, 793):
        del gx.bank.units[245][(3, address)]
    d = driver(gx, service="solarcharger", unit=245)
    r = poll(d)
    assert r.metrics["pv_power"] == 6553.5 and "charger_state" in r.metrics
    assert d.counters.reasons == {"exception_2": 1}


def test_exception_for_one_block_leaves_those_metrics_absent(gx):
    # A GX with no battery monitor serves 850/851 but refuses 840..: simulate by removing 842.
    del gx.bank.units[100][(3, 842)]
    d = driver(gx)
    r = poll(d)
    for name in ("battery_voltage", "battery_current", "battery_power", "battery_soc"):
        assert name not in r.metrics
    assert r.metrics["pv_power"] == 850
    assert d.counters.reasons == {"exception_2": 1}


def test_unit_that_refuses_everything_is_a_protocol_error(gx):
    gx.bank.refusing.add(100)
    d = driver(gx)
    with pytest.raises(ProtocolError):
        d.read(time.monotonic() + 3)
    assert d.counters.accepted == 0
    assert d.counters.reasons == {"exception_11": 5, "info_unavailable": 1}


SERIAL_ROW = load_builtin("victron_gx_system").info[0]


def test_serial_is_read_once_per_connection_and_again_after_reconnect(gx):
    d = driver(gx)
    assert d.info == {"product": "Victron GX (system)", "serial": "c0619ab1e2f3"}
    gx.bank.set_words(100, 3, 800, encode_string(SERIAL_ROW, "HQ2231ABCDE"))
    assert poll(d).info["serial"] == "c0619ab1e2f3"  # polls do not re-read identity
    d.close()
    d.open()
    assert poll(d).info["serial"] == "HQ2231ABCDE"


def test_serial_refused_with_an_exception_is_absent_and_telemetry_flows(gx):
    del gx.bank.units[100][(3, 803)]  # a GX whose request for 800..805 answers exception 2
    d = driver(gx)
    r = poll(d)
    assert r.info == {"product": "Victron GX (system)"}
    assert r.metrics["battery_soc"] == 87 and r.metrics["pv_power"] == 850
    assert d.counters.reasons == {"exception_2": 1, "info_unavailable": 1}
    gx.bank.set_words(100, 3, 803, [0x6231])  # "b1"
    d.close()
    d.open()  # retried at the next connection
    assert d.info["serial"] == "c0619ab1e2f3"


def test_serial_that_is_not_text_or_empty_is_absent(gx):
    gx.bank.set_words(100, 3, 800, [0x6331, 0x0732, 0, 0, 0, 0])  # a BEL byte: garbage
    d = driver(gx)
    assert "serial" not in poll(d).info
    assert d.counters.reasons == {"garbage": 1, "info_unavailable": 1}
    gx.bank.set_words(100, 3, 800, [0] * 6)  # the GX's "invalid": all zeros
    d.close()
    d.open()
    assert "serial" not in d.info
    assert d.counters.reasons == {"garbage": 1, "info_unavailable": 2}  # "na" is no rejection


def test_serial_read_timing_out_costs_one_timeout_and_telemetry_flows(gx):
    gx.late[(100, 800)] = 8.0  # a D-Bus service slow to initialise holds the answer
    d = driver(gx, timeout=0.3)
    started = time.monotonic()
    r = poll(d)
    # one 0.3 s timeout, not the 8 s answer: a bound a loaded machine keeps
    assert time.monotonic() - started < 5.0
    assert "serial" not in r.info and r.metrics["battery_soc"] == 87
    assert d.counters.reasons == {"timeout": 1, "info_unavailable": 1}
    d.close()


def test_unknown_unit_answers_an_exception_not_zeros(gx):
    d = driver(gx, unit=7)
    with pytest.raises(ProtocolError):
        d.read(time.monotonic() + 3)


def test_stopped_simulator_is_unavailable_then_reads_resume(gx):
    d = driver(gx)
    assert poll(d).metrics["battery_soc"] == 87
    gx.stop()
    with pytest.raises(DeviceUnavailable):
        d.read(time.monotonic() + 3)
    d.close()
    with pytest.raises(DeviceUnavailable):
        d.open()
    gx.start()
    gx.bank.set_value(100, "battery_soc", 64)
    d.open()
    assert poll(d).metrics["battery_soc"] == 64


def test_silent_peer_times_out_within_the_deadline():
    # A listening socket that never answers: the request budget, not the peer, bounds the wait.
    import socket

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        d = GX.factory(
            {"host": "127.0.0.1", "port": srv.getsockname()[1], "service": "system", "unit": None}
            | {"timeout": 0.2, "map": None}
        )
        start = time.monotonic()
        d.open()  # connects; the serial read times out once and leaves it absent
        # 0.2 s timeouts: bounds far below pymodbus's 3 s default timeout, far above 0.2 s
        assert time.monotonic() - start < 2.0 and "serial" not in d.info
        start = time.monotonic()
        with pytest.raises(DeviceUnavailable):
            d.read(start + 10)
        assert time.monotonic() - start < 2.5
        assert d.counters.reasons == {"timeout": 2, "info_unavailable": 1}
        d.close()


def test_spec_options_and_user_map(tmp_path):
    assert GX.options["port"].default == 502
    assert GX.options["service"].check("inverter")
    (problem,) = GX.validate({"host": "h", "port": 502, "service": "battery", "unit": None})
    assert problem[0] == "unit" and "required for service 'battery'" in problem[1]
    assert GX.validate({"host": "h", "port": 502, "service": "system", "unit": None}) == []
    bad = tmp_path / "m.toml"
    bad.write_text(
        '[device]\nname = "m"\n[[register]]\naddress = 1\ntype = "u"\nmetric = "pv_power"\n'
    )
    assert "m.toml: register[0].type" in GX.options["map"].check(str(bad))
    with pytest.raises(MapError):
        GX.factory({"host": "h", "port": 502, "service": "system", "unit": None, "map": str(bad)})
