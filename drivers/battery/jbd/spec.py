"""Registers the `jbd` driver (JBD / Xiaoxiang / Overkill Solar BMS over UART or RS485)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.base import DriverSpec
from drivers.battery.jbd.driver import DEFAULT_BAUDRATE, JbdDriver
from drivers.battery.options import serial_options


def build(options: Mapping[str, Any]) -> JbdDriver:
    return JbdDriver(
        options["port"],
        options.get("baudrate", DEFAULT_BAUDRATE),
        options.get("current_sign", "normal"),
    )


SPEC = DriverSpec(
    name="jbd",
    options=serial_options(DEFAULT_BAUDRATE),
    factory=build,
    description="JBD/Xiaoxiang smart BMS: registers 0x03 basic info and 0x04 cell voltages",
)
