"""Messages handed to the broker and waiting for their PUBACK, with their deadline.

Apart from `telemetry.delivery` because it is one idea on its own: a slot per message, the ids
its PUBACK releases, and when a silent broker counts as overdue. No network, no paho, no clock
of its own (the caller passes the monotonic time), so it is tested with plain numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.outgoing import HealthRow


@dataclass(slots=True, frozen=True)
class Flight:
    """A message waiting for its PUBACK: only what the ack needs (the records are not kept)."""

    kind: str
    topic: str
    ids: tuple[int, ...]
    sent: float  # monotonic, for the deadline and the uplink's round trip
    health: tuple[HealthRow, ...] = ()  # a frugal batch's health rows, kept until its PUBACK


@dataclass(slots=True, frozen=True)
class Overdue:
    """A PUBACK overdue: how long the oldest message waited, how many were in flight, and
    whether this is the first timeout of the episode (the caller logs it once)."""

    waited: float
    inflight: int
    first: bool


class InFlight:
    """At most `max_inflight` messages by paho mid; a PUBACK later than `ack_timeout` is
    overdue. Remembers whether the current episode of timeouts was already reported, so a
    broker that stays silent is logged once and its return once."""

    def __init__(self, max_inflight: int, ack_timeout: float) -> None:
        self._max = max_inflight
        self._ack_timeout = ack_timeout
        self._flights: dict[int, Flight] = {}
        self.timeout_reported = False

    def __len__(self) -> int:
        return len(self._flights)

    @property
    def capacity(self) -> int:
        return self._max

    def free(self) -> int:
        return self._max - len(self._flights)

    def add(self, mid: int, flight: Flight) -> None:
        self._flights[mid] = flight

    def pop(self, mid: int) -> Flight | None:
        """The flight `mid` acknowledges, or None (a message of an earlier connection)."""
        return self._flights.pop(mid, None)

    def clear(self) -> list[Flight]:
        """Forget every flight (a lost connection); returns them, for what they carried."""
        flights = list(self._flights.values())
        self._flights.clear()
        return flights

    def deadline(self) -> float | None:
        """Monotonic time the oldest message runs out of time for its PUBACK; None if none."""
        if not self._flights:
            return None
        return self._oldest() + self._ack_timeout

    def overdue(self, now: float) -> Overdue | None:
        """The oldest PUBACK is overdue at monotonic `now`: say so (and mark the episode)."""
        due = self.deadline()
        if due is None or now < due:
            return None
        overdue = Overdue(now - self._oldest(), len(self._flights), not self.timeout_reported)
        self.timeout_reported = True
        return overdue

    def _oldest(self) -> float:
        return min(f.sent for f in self._flights.values())
