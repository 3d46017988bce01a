"""LEDs, a buzzer and the push button on GPIO pins, through gpiozero.

gpiozero picks its pin factory: lgpio on Raspberry Pi OS bookworm (the kernel's GPIO character
device; RPi.GPIO does not work on a Pi 5), `GPIOZERO_PIN_FACTORY=mock` in tests. Blinking and
beeping run in gpiozero's own background thread, which is why the service does not count on them
to show that the main loop is alive (edged.indicators.service). On close, lgpio returns each pin
to an input with no pull: a LED wired from the pin to ground goes dark.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gpiozero import LED, Button, Buzzer, GPIOZeroError

from edged.indicators.patterns import BLINK_MS, Light
from edged.indicators.sysfs import OutputError

try:  # the Pi's backend raises its own error type for a pin the kernel refuses
    from lgpio import error as _LgpioError  # type: ignore[import-not-found]
except ImportError:  # not on a Pi (tests use gpiozero's mock factory)
    _LgpioError = OSError
PIN_ERRORS = (GPIOZeroError, _LgpioError, OSError, RuntimeError, ValueError)
"""What gpiozero and its backends raise for a pin that does not exist, is in use, or has no
GPIO driver; caught at open and write, counted and logged by the board."""
BOUNCE_S = 0.05


class GpioOutput:
    def __init__(self, pin: str, buzzer: bool = False) -> None:
        self.name, self._buzzer = pin, buzzer
        self._device: LED | Buzzer | None = None
        self._shown: Light | None = None

    software_blink = False

    def open(self) -> None:
        try:
            self._device = Buzzer(self.name) if self._buzzer else LED(self.name)
        except PIN_ERRORS as exc:
            raise OutputError(f"GPIO pin {self.name!r}: {exc}") from exc
        self._shown = None

    def show(self, light: Light, toggle: bool = False) -> None:
        if light is self._shown:
            return  # blink() again would restart the blink and its thread
        device = self._device
        if device is None:
            raise OutputError(f"GPIO pin {self.name!r} is not open")
        try:
            if light is Light.ON:
                device.on()
            elif light is Light.OFF:
                device.off()
            else:
                on_ms, off_ms = BLINK_MS[light]
                device.blink(on_time=on_ms / 1000, off_time=off_ms / 1000)
        except PIN_ERRORS as exc:
            self._shown = None
            raise OutputError(f"GPIO pin {self.name!r}: {exc}") from exc
        self._shown = light

    def close(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            try:
                device.close()
            except PIN_ERRORS as exc:
                raise OutputError(f"GPIO pin {self.name!r}: {exc}") from exc


class GpioButton:
    """A push button from the pin to ground (the internal pull-up holds it high). Hands every
    edge, with its monotonic time, to `on_edge(pressed, t)`; the press is judged from those."""

    def __init__(self, pin: str, on_edge: Callable[[bool, float], None]) -> None:
        self.name, self._on_edge = pin, on_edge
        self._device: Button | None = None

    def open(self) -> None:
        try:
            self._device = Button(self.name, pull_up=True, bounce_time=BOUNCE_S)
        except PIN_ERRORS as exc:
            raise OutputError(f"GPIO pin {self.name!r} (button): {exc}") from exc
        self._device.when_pressed = lambda: self._on_edge(True, time.monotonic())
        self._device.when_released = lambda: self._on_edge(False, time.monotonic())

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None
