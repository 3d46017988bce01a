"""A push button's edges to presses: pure (times are given), so the rules are tested exactly.

A contact bounces for a few milliseconds on press and on release; gpiozero's `bounce_time`
(kernel debounce with lgpio) removes most of it, and anything held less than `MIN_PRESS_S` is
bounce, not a press. A press is judged when it ends, so a nurse sees the replay when she lets go
after a long press, and a short press never turns into a long one half-way.
"""

from __future__ import annotations

from enum import Enum

MIN_PRESS_S = 0.03


class Press(Enum):
    SHORT = "short"
    """Acknowledge the active alarms (the buzzer stops)."""
    LONG = "long"
    """Replay the verdict on the LEDs."""


class PressJudge:
    def __init__(self, long_press: float, min_press: float = MIN_PRESS_S) -> None:
        self.long_press, self.min_press = long_press, min_press
        self._down: float | None = None
        self.bounces = 0
        """Edges ignored as contact bounce."""

    def edge(self, pressed: bool, t: float) -> Press | None:
        """Feed one edge (pressed or released, monotonic seconds); a press ends in a verdict."""
        if pressed:
            if self._down is None:
                self._down = t
            return None
        if self._down is None:  # a release with no press seen: the first edge after start
            return None
        held, self._down = t - self._down, None
        if held < self.min_press:
            self.bounces += 1
            return None
        return Press.LONG if held >= self.long_press else Press.SHORT
