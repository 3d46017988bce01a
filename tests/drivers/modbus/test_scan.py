"""Technician tools against real peers: by-id names of ports, probing named unit ids only."""

from __future__ import annotations

import os

from drivers.modbus.scan import probe_rtu, probe_tcp, serial_ports
from drivers.modbus.simulator import EpeverSimulator, GxSimulator, free_port


def test_serial_ports_carry_their_by_id_names(tmp_path):
    sim = EpeverSimulator()
    sim.start()
    try:
        by_id = tmp_path / "by-id"
        by_id.mkdir()
        link = by_id / "usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"
        os.symlink(sim.port, link)
        ports = {p.device: p for p in serial_ports(str(by_id))}
        assert ports[os.path.realpath(sim.port)].by_id == (str(link),)
    finally:
        sim.stop()


def test_probe_rtu_finds_only_the_answering_address():
    sim = EpeverSimulator(address=3)
    sim.start()
    try:
        assert probe_rtu(sim.port, [1, 3], timeout=0.2) == {3: "ok"}
    finally:
        sim.stop()


def test_probe_tcp_reports_answers_and_exceptions():
    sim = GxSimulator(free_port())
    sim.start()
    try:
        found = probe_tcp("127.0.0.1", [100, 245, 9], port=sim.port, timeout=0.5)
    finally:
        sim.stop()
    # 245 (solar charger) does not serve 843; the unknown unit 9 answers a gateway exception
    # (10, as a GX does; it was a device failure from a simulator traceback): not there.
    assert found == {100: "ok", 245: "exception 2"}
