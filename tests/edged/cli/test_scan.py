"""`edged scan` as a subprocess against real peers: a pty for the port list, the EPEver RTU
simulator on a pty, the GX simulator (pymodbus Modbus-TCP server) on a free loopback port."""

from __future__ import annotations

import os
import select
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.client import ModbusTcpClient

from drivers.modbus.mapfile import load_builtin
from drivers.modbus.simulator import EpeverSimulator, free_port
from edged.cli.scan import parse_units, spans

COMMAND = [sys.executable, "-m", "edged.cli", "scan"]
"""Until `scan` is wired into edged.cli; then: [sys.executable, "-m", "edged.cli", "scan"]."""


def scan(*args: str, lang: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "EDGED_LANG"}
    if lang:
        env["EDGED_LANG"] = lang
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, timeout=30, env=env, check=False
    )


@pytest.fixture
def epever():
    sim = EpeverSimulator(address=3)
    sim.start()
    yield sim
    sim.stop()


def test_port_list_shows_by_id_names_and_writes_nothing(tmp_path):
    master, slave = os.openpty()
    try:
        by_id = tmp_path / "by-id"
        by_id.mkdir()
        link = by_id / "usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"
        link.symlink_to(os.ttyname(slave))
        fr = scan("--by-id-dir", str(by_id))
        assert fr.returncode == 0, fr.stderr
        assert f"  {link}\n      → {os.path.realpath(os.ttyname(slave))}" in fr.stdout
        assert fr.stdout.startswith("Ports série (") and "Rien n'a été envoyé" in fr.stdout
        en = scan("--by-id-dir", str(by_id), "--lang", "en")
        assert en.stdout.startswith("Serial ports (") and str(link) in en.stdout
        assert not select.select([master], [], [], 0)[0], "the port list sent bytes to a port"
    finally:
        os.close(master)
        os.close(slave)


def test_rtu_probe_lists_answering_and_refusing_addresses_only(epever):
    epever.bank.load(5, load_builtin("epever_tracer"))
    del epever.bank.units[5][(4, 0x3100)]  # address 5 is there but does not serve 0x3100
    out = scan("--rtu", epever.port, "--units", "1-5", "--timeout", "0.1")
    assert out.returncode == 0, out.stderr
    assert "adresses 1-5 (lecture seule du registre 0x3100, fonction 4)" in out.stdout
    lines = [ln.strip() for ln in out.stdout.splitlines() if ln.startswith("  adresse")]
    assert lines == [
        "adresse 3 : répond",
        "adresse 5 : présente, mais refuse ce registre (exception 2)",
    ]
    epever.bank.set_words(3, 3, 0x9003, [1600])  # a holding register (over-voltage disconnect)
    fr = scan("--rtu", epever.port, "--units", "3", "--register", "0x9003", "--function", "3")
    assert fr.returncode == 0
    assert "adresse 3 : répond" in fr.stdout and "registre 0x9003, fonction 3" in fr.stdout
    en = scan("--rtu", epever.port, "--units", "3", lang="en")
    assert "address 3: answers" in en.stdout and "1 found." in en.stdout


def test_rtu_probe_with_nobody_answering_or_no_port(epever, tmp_path):
    silent = scan("--rtu", epever.port, "--units", "7", "--timeout", "0.1")
    assert silent.returncode == 1
    assert "Aucune réponse" in silent.stdout and "--baudrate" in silent.stdout
    missing = scan("--rtu", str(tmp_path / "ttyUSB9"), "--lang", "en")
    assert missing.returncode == 1
    assert f"Cannot open {tmp_path / 'ttyUSB9'}" in missing.stdout


def test_tcp_probe_finds_each_service_unit(gx):
    gx.bank.refusing.add(247)  # the battery service went away: the GX answers a gateway error
    where = f"127.0.0.1:{gx.port}"
    out = scan("--tcp", where, "--units", "100,245-247,9")
    assert out.returncode == 0, out.stderr
    assert f"GX {where}, unités 9,100,245-247" in out.stdout
    units = [ln.strip() for ln in out.stdout.splitlines() if ln.startswith("  unité")]
    assert units == ["unité 100 : system", "unité 245 : solarcharger"]
    hint = f'host = "127.0.0.1", port = {gx.port}, service = "solarcharger", unit = 245'
    assert hint in out.stdout
    gx.bank.refusing.clear()
    out = scan("--tcp", where, "--units", "247", "--lang", "en")
    assert "  unit 247: battery" in out.stdout and "1 found." in out.stdout


def test_a_full_tcp_scan_of_the_simulator_gets_quiet_exceptions_for_unknown_units(tmp_path):
    """`edged scan --tcp` asks all 248 unit ids: the simulator (as `python -m ...simulator gx`
    runs it) printed a `KeyError: 0` traceback for each unknown one and answered a device
    failure. Unknown units now answer 10 (gateway path unavailable, as a GX does) and unknown
    registers 2 (illegal address), with nothing on the simulator's stderr."""
    port = free_port()
    err = tmp_path / "simulator.err"
    with open(err, "w") as stderr:
        sim = subprocess.Popen(
            [sys.executable, "-m", "drivers.modbus.simulator", "gx", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert "serving" in sim.stdout.readline()
        out = scan("--tcp", f"127.0.0.1:{port}")  # the default units: 0-247
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=5)
        assert client.connect()
        unknown_unit = client.read_holding_registers(840, count=1, device_id=5)
        unknown_register = client.read_holding_registers(60000, count=2, device_id=100)
        client.close()
    finally:
        sim.terminate()
        sim.wait(10)
        sim.stdout.close()
    assert out.returncode == 0 and "3 trouvé(s)." in out.stdout, out.stdout + out.stderr
    assert unknown_unit.isError() and unknown_unit.exception_code == 10
    assert unknown_register.isError() and unknown_register.exception_code == 0x02
    assert err.read_text() == ""


def test_tcp_probe_without_a_gx(gx):
    port = free_port()
    out = scan("--tcp", f"127.0.0.1:{port}", "--timeout", "0.3")
    assert out.returncode == 1 and f"Pas de connexion à 127.0.0.1:{port}" in out.stdout
    gx.bank.refusing.update({100, 245, 247})
    out = scan("--tcp", f"127.0.0.1:{gx.port}", "--units", "100,245,247", lang="en")
    assert out.returncode == 1 and "No unit serves system, solarcharger, battery" in out.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--rtu", "/dev/null", "--units", "0-3"), "--units '0-3' : attendu des numéros 1 à 247"),
        (("--tcp", "gx", "--units", "9-2"), "--units '9-2' : attendu des numéros 0 à 255"),
        (("--tcp", "gx:port"), "--tcp 'gx:port' : attendu HÔTE ou HÔTE:PORT"),
        (("--tcp", "gx", "--rtu", "/dev/ttyUSB0"), "not allowed with argument"),
    ],
)
def test_bad_arguments_exit_2_before_touching_anything(args, expected):
    out = scan(*args)
    assert out.returncode == 2
    assert expected in out.stdout + out.stderr


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 255), min_size=1))
def test_units_round_trip_through_spans(units):
    ordered = sorted(units)
    assert parse_units(spans(ordered), 0, 255) == ordered


def test_parse_units_accepts_lists_and_ranges():
    assert parse_units("100, 245-247,100", 0, 255) == [100, 245, 246, 247]
    for bad in ("", "1-", "a", "3-1", "248", "-1"):
        with pytest.raises(ValueError):
            parse_units(bad, 1, 247)
