"""What a driver hands to the core: one decoded observation of one device.

Drivers build `Reading`s from bytes; the core stamps them with the wall clock and its quality,
then the store and publishers consume them. This module imports nothing of drivers, telemetry or
maintenance, so every layer can depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MetricValue = float | int | str


@dataclass(frozen=True, slots=True)
class Reading:
    """One decoded observation, before the core timestamps it.

    `metrics` holds only catalogue names (see `edged.metrics`) in SI units. `info` carries device
    metadata the observation revealed (product, serial, firmware); `extra` carries decoded values
    outside the catalogue (kept for `edged status`, not published as metrics).
    """

    metrics: dict[str, MetricValue]
    info: dict[str, str] = field(default_factory=dict)
    extra: dict[str, MetricValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sample:
    """A reading stamped by the core: which device, when, and whether the clock was trustworthy."""

    device: str
    ts: float
    clock_synced: bool
    metrics: dict[str, MetricValue]


@dataclass(frozen=True, slots=True)
class Record:
    """One published unit: the aggregate of one device's samples over one publish window.

    `(device, ts)` identifies it; `ts` is the window start (unix seconds).
    """

    device: str
    ts: float
    clock_synced: bool
    samples: int
    metrics: dict[str, MetricValue]
    id: int | None = None
