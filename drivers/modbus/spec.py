"""DriverSpecs for the Modbus drivers: `victron-gx` (Modbus-TCP) and `epever` (Modbus-RTU).

Options are data, so `edged check-config` validates them without I/O on the device; a user map
file (`map = "path"`) is loaded and checked at config time, so a typo in it is reported with the
file and key path before the daemon starts rather than at the first poll.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.base import Driver, DriverSpec, Option

from .mapfile import load_builtin, load_map
from .regmap import MapError, RegisterMap

GX_SERVICES = ("system", "solarcharger", "battery")
BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def _between(lo: float, hi: float) -> Any:
    return lambda v: None if lo <= v <= hi else f"expected {lo}..{hi}"


def _map_problem(path: str) -> str | None:
    try:
        load_map(path)
    except MapError as exc:
        return f"expected a valid register map ({exc})"
    return None


def _map(opts: Mapping[str, Any], builtin: str) -> RegisterMap:
    return load_map(opts["map"]) if opts.get("map") else load_builtin(builtin)


def _gx_rules(opts: Mapping[str, Any]) -> list[tuple[str, str]]:
    if opts.get("unit") is None and opts["service"] != "system":
        return [("unit", f"required for service {opts['service']!r} (the GX's Modbus TCP page)")]
    return []


def _gx(opts: Mapping[str, Any]) -> Driver:
    from .driver import ModbusDriver, tcp_client  # pymodbus costs ~10 MB: only where used

    service, unit = opts["service"], opts.get("unit")
    if unit is None:  # validated: only the system service may omit it
        unit = 100
    where = f"{opts['host']}:{opts['port']}"
    return ModbusDriver(
        _map(opts, f"victron_gx_{service}"),
        tcp_client(opts["host"], opts["port"]),
        unit,
        opts["timeout"],
        where,
    )


def _epever(opts: Mapping[str, Any]) -> Driver:
    from .driver import ModbusDriver, rtu_client

    return ModbusDriver(
        _map(opts, "epever_tracer"),
        rtu_client(opts["port"], opts["baudrate"]),
        opts["address"],
        opts["timeout"],
        opts["port"],
        retries=1,  # one damaged frame on a noisy RS485 line should not lose the poll
    )


_MAP = Option(
    str, None, check=_map_problem, doc="path of a register map file replacing the built-in"
)
_TIMEOUT = Option((int, float), 1.0, check=_between(0.05, 30), doc="seconds per request")

GX = DriverSpec(
    name="victron-gx",
    options={
        "host": Option(str, required=True, doc="GX address"),
        "port": Option(int, 502, check=_between(1, 65535)),
        "service": Option(
            str,
            "system",
            check=lambda v: None if v in GX_SERVICES else f"expected one of {GX_SERVICES}",
        ),
        "unit": Option(int, None, check=_between(0, 255), doc="Modbus unit id; 100 for system"),
        "timeout": _TIMEOUT,
        "map": _MAP,
    },
    factory=_gx,
    validate=_gx_rules,
    description="Victron GX (Cerbo/Venus) over Modbus-TCP, one service per device",
)

EPEVER = DriverSpec(
    name="epever",
    options={
        "port": Option(str, required=True, doc="serial port, preferably /dev/serial/by-id/..."),
        "baudrate": Option(
            int,
            115200,
            check=lambda v: None if v in BAUDRATES else f"expected one of {BAUDRATES}",
        ),
        "address": Option(int, 1, check=_between(1, 247), doc="Modbus slave id"),
        "timeout": _TIMEOUT,
        "map": _MAP,
    },
    factory=_epever,
    shared_bus=True,  # several controllers on one RS485 bus, one slave address each
    description="EPEver Tracer (and maps for other Modbus-RTU controllers)",
)
