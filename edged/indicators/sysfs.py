"""One LED of the Linux LED class: `/sys/class/leds/<name>/{brightness,trigger,delay_on,delay_off}`.

The Pi's own ACT and PWR LEDs, or LEDs a device-tree overlay declares (`dtoverlay=gpio-led`).
Blinking is left to the kernel's `timer` trigger where the kernel has it, so the LED blinks
without the daemon's help; where it has not, the service toggles the LED at each refresh of
the main loop (about once a second). This module only writes files: it never loops or retries
(the board counts failures and tries again at the next refresh).
"""

from __future__ import annotations

import os
from pathlib import Path

from edged.indicators.patterns import BLINK_MS, Light


class OutputError(Exception):
    """An output cannot be opened or written (vanished, not writable, no such pin)."""


class SysfsLed:
    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.dir = root / name
        self._max = 1
        self._timer = False
        self._shown: Light | None = None
        self._lit = False

    @property
    def software_blink(self) -> bool:
        """Whether this LED needs the service to toggle it (no kernel `timer` trigger)."""
        return not self._timer

    def open(self) -> None:
        try:
            self._max = int((self.dir / "max_brightness").read_text().split()[0])
            triggers = (self.dir / "trigger").read_text().replace("[", " ").replace("]", " ")
        except (OSError, ValueError, IndexError) as exc:
            raise OutputError(f"LED {self.name!r} ({self.dir}): {exc}") from exc
        self._timer = "timer" in triggers.split()
        self._shown = None

    def show(self, light: Light, toggle: bool = False) -> None:
        """Set the LED; repeated with the same light, nothing is written, except that `toggle`
        flips a blinking LED that has no kernel timer (the service's guard, every second)."""
        blinking = light in BLINK_MS
        if light is self._shown and not (toggle and blinking and not self._timer):
            return
        try:
            if blinking and self._timer:
                self._write("trigger", "timer")
                on_ms, off_ms = BLINK_MS[light]
                self._delays(on_ms, off_ms)
            else:
                lit = light is Light.ON or (blinking and not self._lit)
                if self._shown is None or self._shown in BLINK_MS or light in BLINK_MS:
                    self._write("trigger", "none")
                self._write("brightness", str(self._max if lit else 0))
                self._lit = lit
        except OSError as exc:
            self._shown = None  # unknown now: written again in full next time
            raise OutputError(f"LED {self.name!r} ({self.dir}): {exc}") from exc
        self._shown = light

    def _delays(self, on_ms: int, off_ms: int) -> None:
        """The timer's delays. They appear with the trigger, owned by root: where edged may not
        write them, the kernel's default (500/500 ms) stands, which is the blink we want."""
        for attr, value in (("delay_on", on_ms), ("delay_off", off_ms)):
            try:
                self._write(attr, str(value))
            except PermissionError:
                if (self.dir / attr).read_text().strip() != str(value):
                    raise

    def _write(self, attr: str, value: str) -> None:
        # one write() per attribute, as sysfs wants; no O_CREAT: a vanished LED is an error
        fd = os.open(self.dir / attr, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    def close(self) -> None:
        self._shown = None
