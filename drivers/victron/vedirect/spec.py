"""Registers the `vedirect` driver: its config keys as data, checked without any I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.base import DriverSpec, Option
from drivers.victron.vedirect.driver import VeDirectDriver


def check_port(value: Any) -> str | None:
    """Shape only (an absolute device path): whether it exists is the runner's business, since
    USB serial devices come and go and a missing cable must not make the config invalid."""
    ok = isinstance(value, str) and value.startswith("/") and "\0" not in value
    return (
        None
        if ok and not value.endswith("/")
        else "expected a serial device path like /dev/ttyUSB0"
    )


def build(options: Mapping[str, Any]) -> VeDirectDriver:
    return VeDirectDriver(options["port"])


SPEC = DriverSpec(
    name="vedirect",
    options={
        "port": Option(
            str,
            required=True,
            check=check_port,
            doc="serial device, e.g. /dev/serial/by-id/usb-VictronEnergy_BV_VE_Direct_...",
        )
    },
    factory=build,
    push=True,
    default_interval=1.0,
    description="Victron VE.Direct TEXT protocol (MPPT, BMV, SmartShunt) at 19200 8N1",
)
