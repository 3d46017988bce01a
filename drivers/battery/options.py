"""Config keys the four BMS drivers share, as data (validated by the core without any I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drivers.base import Check, Option
from drivers.battery.common import SIGNS


def one_of(values: Sequence[Any]) -> Check:
    def check(value: Any) -> str | None:
        return None if value in values else f"one of {', '.join(map(repr, values))}"

    return check


def in_range(lo: int, hi: int) -> Check:
    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
        return None if ok else f"an integer from {lo} to {hi}"

    return check


BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def serial_options(baudrate: int, **extra: Option) -> dict[str, Option]:
    """`port`, `baudrate` (the protocol's default), `current_sign`, plus protocol-specific keys."""
    return {
        "port": Option(str, required=True, doc="serial device, e.g. /dev/serial/by-id/..."),
        "baudrate": Option(int, baudrate, check=one_of(BAUDRATES), doc="line speed"),
        "current_sign": Option(
            str,
            "normal",
            check=one_of(SIGNS),
            doc="'inverted' flips battery_current where this pack reports discharge as positive",
        ),
        **extra,
    }
