"""Registers the `pylontech` driver (US2000/US3000/US5000 and Pylon-protocol BMSs, RS485)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.base import DriverSpec, Option
from drivers.battery.options import in_range, one_of, serial_options
from drivers.battery.pylontech.driver import DEFAULT_ADDRESS, DEFAULT_BAUDRATE, PylontechDriver
from drivers.battery.pylontech.fields import CURRENT_UNITS


def build(options: Mapping[str, Any]) -> PylontechDriver:
    return PylontechDriver(
        options["port"],
        options.get("baudrate", DEFAULT_BAUDRATE),
        options.get("address", DEFAULT_ADDRESS),
        options.get("current_unit", "100mA"),
        options.get("current_sign", "normal"),
    )


SPEC = DriverSpec(
    name="pylontech",
    options=serial_options(
        DEFAULT_BAUDRATE,
        address=Option(
            int,
            DEFAULT_ADDRESS,
            check=in_range(0, 255),
            doc="pack address on the bus: master 2, slaves 3, 4, …",
        ),
        current_unit=Option(
            str,
            "100mA",
            check=one_of(tuple(CURRENT_UNITS)),
            doc="wire unit of the current field; sources disagree (protocols.md 4.1)",
        ),
    ),
    factory=build,
    description="Pylontech RS485 protocol: analog values (0x42) and alarm info (0x44)",
)
