"""The board: the configured outputs (LEDs, buzzer) behind one `show(pattern)`.

An output that cannot be opened or written (a sysfs LED that vanished or that edged may not
write, a GPIO pin that does not exist or is taken) is counted and logged once per episode, and
tried again at the next refresh; the other outputs and the daemon go on. "Back" is logged once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from edged.config.leds import LedsConfig
from edged.indicators.patterns import OUTPUTS, Light, Pattern
from edged.indicators.sysfs import OutputError, SysfsLed

log = logging.getLogger(__name__)


class Output(Protocol):
    name: str

    @property
    def software_blink(self) -> bool: ...

    def open(self) -> None: ...

    def show(self, light: Light, toggle: bool = False) -> None: ...

    def close(self) -> None: ...


def outputs(config: LedsConfig) -> dict[str, Output]:
    """role (green, amber, red, buzzer) -> its output, for the roles the config names."""
    found: dict[str, Output] = {}
    for role in OUTPUTS:
        name = getattr(config, role)
        if name is None:
            continue
        if config.backend == "sysfs":
            found[role] = SysfsLed(Path(config.sysfs_root), name)
        else:
            from edged.indicators.gpio import GpioOutput  # gpiozero only where GPIO is used

            found[role] = GpioOutput(name, buzzer=role == "buzzer")
    return found


class Board:
    def __init__(self, roles: dict[str, Output]) -> None:
        self.roles = roles
        self._open: set[str] = set()
        self._failing: set[str] = set()
        self.errors: dict[str, int] = {role: 0 for role in roles}
        """Failed opens and writes, per role (in the live view)."""
        self.shown: Pattern | None = None

    @property
    def software_blink(self) -> bool:
        """Whether some blinking output needs `show` again at every refresh to blink."""
        return any(
            self.roles[role].software_blink and (self.shown.light(role) in _BLINKING)
            for role in self._open
            if self.shown is not None
        )

    def show(self, pattern: Pattern, toggle: bool = False) -> None:
        """Every output to its light in `pattern`; a failing one is reopened first. `toggle`:
        the blinking outputs with no blinker of their own change state (see `software_blink`)."""
        for role, output in self.roles.items():
            try:
                if role not in self._open:
                    output.open()
                    self._open.add(role)
                output.show(pattern.light(role), toggle)
            except OutputError as exc:
                self._failed(role, exc)
            else:
                if role in self._failing:
                    self._failing.discard(role)
                    log.info("status %s (%s) works again", role, output.name)
        self.shown = pattern

    def _failed(self, role: str, exc: OutputError) -> None:
        self.errors[role] += 1
        self._open.discard(role)
        self._close(role)
        if role not in self._failing:
            self._failing.add(role)
            log.warning("status %s: %s (counted; tried again every second)", role, exc)

    def _close(self, role: str) -> None:
        try:
            self.roles[role].close()
        except OutputError as exc:
            log.debug("closing %s: %s", role, exc)

    def close(self) -> None:
        for role in list(self._open):
            self._close(role)
        self._open.clear()

    def view(self) -> dict[str, object]:
        return {"errors": dict(self.errors), "failing": sorted(self._failing)}


_BLINKING = (Light.BLINK, Light.BEEP)
