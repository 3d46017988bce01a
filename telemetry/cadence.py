"""Commit more often when the battery is low: the minutes before a power cut matter most.

Normally the Writer commits every `storage.commit_interval` (SD-card wear is paid per commit); a
power cut loses at most that much. Cuts come when the battery empties, and the samples just
before one are what a technician needs to see why. So while any device reports a state of
charge below `storage.low_battery_soc`, the cadence drops to `storage.low_battery_commit_interval`,
and returns once every such device is back above the threshold plus a 5-point hysteresis.
Pure: fed samples, answers the cadence to use.
"""

from __future__ import annotations

from edged.readings import Sample

HYSTERESIS = 5.0


class CommitCadence:
    def __init__(self, normal: float, low_battery: float, threshold: float) -> None:
        self.normal, self.low_battery, self.threshold = normal, low_battery, threshold
        self._low: set[str] = set()

    @property
    def interval(self) -> float:
        return self.low_battery if self._low else self.normal

    def observe(self, sample: Sample) -> float | None:
        """The new cadence if this sample changes it, else None."""
        soc = sample.metrics.get("battery_soc")
        if not isinstance(soc, int | float) or isinstance(soc, bool):
            return None
        before = self.interval
        if soc < self.threshold:
            self._low.add(sample.device)
        elif soc >= self.threshold + HYSTERESIS:
            self._low.discard(sample.device)
        after = self.interval
        return after if after != before else None
