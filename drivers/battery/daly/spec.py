"""Registers the `daly` driver (Daly BMS, legacy "A5" UART/RS485 protocol)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.base import DriverSpec, Option
from drivers.battery.daly.driver import DEFAULT_BAUDRATE, DEFAULT_BOARD, DalyDriver
from drivers.battery.options import in_range, serial_options


def build(options: Mapping[str, Any]) -> DalyDriver:
    return DalyDriver(
        options["port"],
        options.get("baudrate", DEFAULT_BAUDRATE),
        options.get("address", DEFAULT_BOARD),
        options.get("current_sign", "normal"),
    )


SPEC = DriverSpec(
    name="daly",
    options=serial_options(
        DEFAULT_BAUDRATE,
        address=Option(
            int,
            DEFAULT_BOARD,
            check=in_range(1, 16),
            doc="board number on a shared bus (requests go to 0x3F + n; 1 = plain host)",
        ),
    ),
    factory=build,
    description="Daly BMS A5 protocol: 0x90–0x95 and 0x98 failure flags",
)
