"""Registers the `jkbms` driver (JK BMS, RS485/TTL "4E 57" protocol on the GPS/RS485 port)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.base import DriverSpec, Option
from drivers.battery.jkbms.driver import DEFAULT_BAUDRATE, JkBmsDriver
from drivers.battery.jkbms.fields import ENCODINGS
from drivers.battery.options import one_of, serial_options


def build(options: Mapping[str, Any]) -> JkBmsDriver:
    return JkBmsDriver(
        options["port"],
        options.get("baudrate", DEFAULT_BAUDRATE),
        options.get("current_encoding", "auto"),
        options.get("current_sign", "normal"),
    )


SPEC = DriverSpec(
    name="jkbms",
    options=serial_options(
        DEFAULT_BAUDRATE,
        current_encoding=Option(
            str,
            "auto",
            check=one_of(ENCODINGS),
            doc="current field encoding; auto follows the protocol version id 0xC0",
        ),
    ),
    factory=build,
    description="JK BMS 4E 57 protocol: read-all over RS485/TTL",
)
