"""Technician tools: which serial ports exist (with their stable by-id names), who answers on a bus.

Probes are read-only (one register read per unit id) and go only to the port or host and the
unit ids the caller names: a technician on site decides what to touch, this module never sweeps.
A unit that answers an exception still counts as present (it is there, it just does not serve
that register); a silent one is left out, and so is a gateway's "path unavailable" (10) or
"target failed to respond" (11): a GX answers those for a unit id with no such service behind it
(dbus_modbustcp backend.cpp), so they mean "nobody there", not "present".
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.client.base import ModbusBaseSyncClient
from pymodbus.exceptions import ModbusException
from serial.tools import list_ports

BY_ID = "/dev/serial/by-id"
GATEWAY_ABSENT = (10, 11)
"""Exception codes by which a gateway says no device answers behind that unit id."""


@dataclass(frozen=True, slots=True)
class SerialPort:
    device: str
    by_id: tuple[str, ...]
    """Stable names under /dev/serial/by-id pointing at `device` (use these in configs)."""
    description: str = ""


def serial_ports(by_id_dir: str = BY_ID) -> list[SerialPort]:
    """Ports pyserial knows plus any by-id link targets, each with its by-id names."""
    links: dict[str, list[str]] = {}
    folder = Path(by_id_dir)
    if folder.is_dir():
        for link in sorted(folder.iterdir()):
            links.setdefault(os.path.realpath(link), []).append(str(link))
    described = {p.device: p.description for p in list_ports.comports()}
    devices = sorted(set(described) | set(links))
    return [
        SerialPort(d, tuple(links.get(os.path.realpath(d), ())), described.get(d, ""))
        for d in devices
    ]


def probe_rtu(
    port: str,
    units: Iterable[int],
    baudrate: int = 115200,
    register: int = 0x3100,
    function: int = 4,
    timeout: float = 0.3,
) -> dict[int, str]:
    """Unit ids on the RTU bus at `port` that answer; see `probe`."""
    client = ModbusSerialClient(port, baudrate=baudrate, timeout=timeout, retries=0)
    return probe(client, units, register, function)


def probe_tcp(
    host: str,
    units: Iterable[int],
    port: int = 502,
    register: int = 843,
    function: int = 3,
    timeout: float = 1.0,
) -> dict[int, str]:
    """Unit ids a Modbus-TCP gateway (a GX) answers for; see `probe`."""
    client = ModbusTcpClient(host, port=port, timeout=timeout, retries=0)
    return probe(client, units, register, function)


def probe(
    client: ModbusBaseSyncClient, units: Iterable[int], register: int, function: int
) -> dict[int, str]:
    """{unit: "ok" | "exception N"} for units that answered one read of `register`."""
    found: dict[int, str] = {}
    if not client.connect():
        raise OSError(f"cannot open {client}")
    read = client.read_holding_registers if function == 3 else client.read_input_registers
    try:
        for unit in units:
            try:
                resp = read(register, count=1, device_id=unit)
            except ModbusException:
                if not client.connected:
                    client.connect()
                continue
            if not resp.isError():
                found[unit] = "ok"
            elif resp.exception_code not in GATEWAY_ABSENT:
                found[unit] = f"exception {resp.exception_code}"
    finally:
        client.close()
    return found
