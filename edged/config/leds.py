"""`[leds]`, the status LEDs and the button: its frozen settings and checks (docs/leds.md,
docs/configuration.md).

No I/O: a pin or LED name is checked for its shape only. Whether `GPIO17` exists on this board,
or `/sys/class/leds/ACT` on this kernel, is learnt when the daemon opens it (then counted and
logged, and the daemon runs on without that output: edged.indicators.board).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edged.config.checks import positive

BACKENDS = ("gpio", "sysfs")
OUTPUTS = ("green", "amber", "red", "buzzer")
GPIO_PIN = re.compile(
    r"^(?:(?:GPIO|BCM)(?:[0-9]|[1-5][0-9])|(?:BOARD|J8:)(?:[1-9]|[1-3][0-9]|40))$"
)
"""gpiozero's pin names: Broadcom numbers (GPIO17, BCM17) or header positions (BOARD11, J8:11)."""
LED_NAME = re.compile(r"^(?!\.\.?$)[A-Za-z0-9_.:+-]{1,64}$")
"""A folder of /sys/class/leds (ACT, PWR, led0, edged-green, mmc0::): no path separator."""


@dataclass(frozen=True, slots=True)
class LedsConfig:
    """`[leds]` (docs/leds.md): the status LEDs, an optional buzzer and the push button. Each
    of green, amber, red and buzzer names a Linux LED class device (`backend = "sysfs"`: a
    folder of `sysfs_root`, e.g. "ACT") or a GPIO pin (`backend = "gpio"`, gpiozero names:
    "GPIO17", "BOARD11"); the button is always a GPIO pin, wired to ground."""

    backend: str = "gpio"
    green: str | None = None
    amber: str | None = None
    red: str | None = None
    buzzer: str | None = None
    button: str | None = None
    long_press: float = 2.0
    """Seconds held: a press at least this long replays the verdict, a shorter one acknowledges."""
    hang_after: float = 10.0
    """Seconds without a refresh from the daemon's main loop before the LEDs show "stopped"."""
    sysfs_root: str = "/sys/class/leds"


def leds(v: Any, raw: Mapping[str, Any]) -> LedsConfig | None:
    """`[leds]`, or None when the site has none; problems go to `v` with their key paths."""
    if "leds" not in raw:
        return None
    checks = {"long_press": positive, "hang_after": positive}
    config = v.section(raw, "leds", LedsConfig, checks)
    if config is None:
        return None
    start = len(v.problems)
    if config.backend not in BACKENDS:
        v.add("leds.backend", f"expected one of {', '.join(BACKENDS)}, got {config.backend!r}")
        return None
    named = {key: getattr(config, key) for key in (*OUTPUTS, "button")}
    if not any(named[key] for key in ("green", "amber", "red")):
        v.add("leds", "expected at least one of green, amber, red")
    for key in OUTPUTS:
        name = named[key]
        if name is not None and not _shape(config.backend).match(name):
            v.add(f"leds.{key}", _expected(config.backend, name))
    if named["button"] is not None and not GPIO_PIN.match(named["button"]):
        v.add("leds.button", _expected("gpio", named["button"]))
    _no_pin_twice(v, config, named)
    return config if len(v.problems) == start else None


def _shape(backend: str) -> re.Pattern:
    return GPIO_PIN if backend == "gpio" else LED_NAME


def _expected(backend: str, name: str) -> str:
    if backend == "gpio":
        return f"expected a GPIO pin name such as GPIO17 or BOARD11, got {name!r}"
    return f"expected the name of a folder of /sys/class/leds such as ACT, got {name!r}"


def _no_pin_twice(v: Any, config: LedsConfig, named: Mapping[str, str | None]) -> None:
    """Two roles on one pin would fight over it (the button is a GPIO pin in both backends)."""
    seen: dict[tuple[str, str], str] = {}
    for key, name in named.items():
        if name is None:
            continue
        kind = "gpio" if key == "button" else config.backend
        where = (kind, _number(name) if kind == "gpio" else name)
        if where in seen:
            v.add(
                f"leds.{key}",
                f"expected a pin or LED no other role uses, {seen[where]} uses {name!r} too",
            )
        seen.setdefault(where, key)


def _number(pin: str) -> str:
    """GPIO17 and BCM17 are one pin (BOARD numbers are kept as they are: no board table here)."""
    return re.sub(r"^(?:GPIO|BCM)", "GPIO", pin)
