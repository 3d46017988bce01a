"""The values that cross layers: what a driver observed, and what the core concluded of it.

Drivers build `Reading`s from bytes; the core stamps them with the wall clock and its quality
(`Sample`), folds them into published windows (`Record`) and judges each device live or not
(`DeviceState`); the store, the publishers, the alarms and `edged status` consume them. This
module imports nothing of drivers, telemetry or maintenance, so every layer can depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

MetricValue = float | int | str
InfoValue = str | float | int
"""A device's identity (product, serial, firmware) is text; a battery bank's info also holds its
numbers (nominal voltage, capacity)."""


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


class Liveness(Enum):
    """Whether a device's data is live, from the age of its last good read (`edged.liveness`)."""

    OK = "ok"
    STALE = "stale"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class DeviceState:
    """What the core concluded about one device: live or not, when last seen, who it is.

    Built by the runner (and by the battery model for a bank, a virtual device), then stored
    (`device_state`), published retained on `P/device/{device}` and shown by `edged status`.
    `to_dict` is the one JSON shape of it, the live view's and the payload's (docs/mqtt.md);
    `from_dict` reads it back from a file another process wrote, refusing what does not fit.
    The mappings are the producer's copies: nobody mutates them after construction.
    """

    liveness: Liveness
    last_seen: float | None
    """Wall-clock time of the last good read; None when never read since the daemon started."""
    info: Mapping[str, InfoValue] = field(default_factory=dict)
    counters: Mapping[str, int] = field(default_factory=dict)
    """Frames accepted and rejected, samples kept, driver errors, `rejected_<reason>`."""
    data: Mapping[str, MetricValue] | None = None
    """The last reading's values outside the catalogue (every cell voltage of a BMS); None for
    a virtual device, which has none (its JSON then has no `data` key)."""

    def to_dict(self) -> dict[str, object]:
        """The JSON shape, keys in the order dashboards and the live view have always had."""
        out: dict[str, object] = {
            "state": self.liveness.value,
            "last_seen": self.last_seen,
            "info": dict(self.info),
        }
        if self.data is not None:
            out["data"] = dict(self.data)
        out["counters"] = dict(self.counters)
        return out

    @classmethod
    def from_dict(cls, obj: object) -> DeviceState:
        """Read `to_dict`'s shape back; ValueError naming the first key that does not fit."""
        if not isinstance(obj, Mapping):
            raise ValueError(f"device state: expected an object, got {type(obj).__name__}")
        try:
            liveness = Liveness(obj.get("state"))
        except ValueError:
            got = obj.get("state")
            raise ValueError(f"state: expected ok, stale or offline, got {got!r}") from None
        last_seen = obj.get("last_seen")
        if last_seen is not None and not _is_number(last_seen):
            raise ValueError(f"last_seen: expected a number or null, got {last_seen!r}")
        info = _mapping(obj, "info", lambda v: isinstance(v, str) or _is_number(v))
        counters = _mapping(
            obj, "counters", lambda v: isinstance(v, int) and not isinstance(v, bool)
        )
        data = None
        if "data" in obj:
            data = _mapping(obj, "data", lambda v: isinstance(v, str) or _is_number(v))
        return cls(liveness, last_seen, info, counters, data)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _mapping(obj: Mapping, key: str, fits: Callable[[object], bool]) -> dict:
    value = obj.get(key, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"{key}: expected an object, got {type(value).__name__}")
    for name, item in value.items():
        if not isinstance(name, str) or not fits(item):
            raise ValueError(f"{key}.{name}: unexpected value {item!r}")
    return dict(value)
