"""The one shape every health collector returns, so the daemon publishes them all alike.

A `HealthReading` is what `P/health/{component}` carries (see docs/mqtt.md) and what the
alarm engine reads. It is not a telemetry `Reading`: health values are not catalogue metrics, are
not stored as records and are not aggregated; they describe the equipment around the energy system
(the PiBox, its services, the smart glasses, the uplink). Each collector module lists its value
names and units in a table in its docstring; docs/health.md gathers them.

Values are snake_case; a unit that is not obvious is in the name (`_s`, `_ms`, `_bytes`,
`_percent`). `None` means "not measurable here" (e.g. Raspberry Pi firmware flags on a PC), never
"zero".
"""

from __future__ import annotations

from dataclasses import dataclass

HealthValue = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class HealthReading:
    """One collector's observation of one component.

    `ok` is the collector's own verdict on hard facts (a service answered, the firmware reports no
    under-voltage); thresholds on the values (disk 90 % full) belong to the alarm engine. `detail`
    is a short note for a technician: why `ok` is False, what was not measurable, or what a check
    saw.
    """

    component: str
    values: dict[str, HealthValue]
    ok: bool
    detail: str = ""

    def payload(self) -> dict[str, object]:
        """The JSON-ready body for `P/health/{component}` (the caller adds `ts`)."""
        return {"ok": self.ok, "detail": self.detail, "values": dict(self.values)}


def ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds rounded to the microsecond, the unit of every `*_ms` value."""
    return None if seconds is None else round(seconds * 1000.0, 3)
