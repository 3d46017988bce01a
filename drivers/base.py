"""The contract between the core and every driver (`drivers.registry` says which exist).

A driver is a thin I/O shell around a pure codec. It opens its transport, reads until a deadline,
closes, and reports device info once known. It never loops forever, sleeps to retry, or decides
whether a device is stale or offline: the core's runner owns all of that (see `edged.runner`).

It raises only `DeviceUnavailable` (the port or peer is gone: the runner reopens with backoff) or
`ProtocolError` (the device answered but nonsense: counted, the runner carries on).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from edged.readings import Reading


class DriverError(Exception):
    """Base of the two errors a driver may raise."""


class DeviceUnavailable(DriverError):
    """The transport cannot be opened or vanished (USB unplugged, TCP peer down, timeout)."""


class ProtocolError(DriverError):
    """The device answered, but with something the codec rejected (bad checksum, exception)."""


@dataclass(slots=True)
class Counters:
    """Per-driver frame counters the runner copies into device state and `edged status`."""

    accepted: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str, n: int = 1) -> None:
        self.rejected += n
        self.reasons[reason] = self.reasons.get(reason, 0) + n


class Driver(Protocol):
    """What the runner calls. `read` returns the readings decoded before `deadline` (monotonic)."""

    counters: Counters
    info: dict[str, str]

    def open(self) -> None: ...

    def read(self, deadline: float) -> list[Reading]: ...

    def close(self) -> None: ...


# --- options: each driver declares its config keys as data, so validation needs no I/O --------

Check = Callable[[Any], str | None]
"""Returns None when the value is acceptable, else what was expected (used in the message)."""


@dataclass(frozen=True, slots=True)
class Option:
    """One config key of a driver: its type, default, and an optional extra check."""

    type: type | tuple[type, ...]
    default: Any = None
    required: bool = False
    check: Check | None = None
    doc: str = ""


@dataclass(frozen=True, slots=True)
class DriverSpec:
    """A driver as the core sees it: its config keys, how to build it, and a short description."""

    name: str
    options: Mapping[str, Option]
    factory: Callable[[Mapping[str, Any]], Driver]
    description: str = ""
    push: bool = False
    """True when the device streams on its own (VE.Direct); False when the runner must poll."""
    default_interval: float = 10.0
    shared_bus: bool = False
    """True when several devices of this driver may share one serial port (an RS485 bus with
    several slave addresses): the driver then serialises access to the port itself."""
    validate: Callable[[Mapping[str, Any]], list[tuple[str, str]]] | None = None
    """Rules across options (e.g. a key required by another's value), run after each option's
    own check on the filled-in options: returns (key, what was expected) pairs; no I/O."""
