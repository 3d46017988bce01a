"""The frugal mode's rules (`[telemetry] mode = "frugal"`): when a batch goes, what rides in it,
and when records go live.

Why: on a 3G link every MQTT message costs ~300 B of TCP, TLS and IP around it (README), so one
record a minute per device plus a health message a minute is ~1.3 MB a day before any data. In
frugal mode the records and health rows of an hour go in one compressed `P/batch` message
(docs/mqtt.md), and a record goes on `P/telemetry` only while a technician asked for live values
(the `live` command), so what they see is never older than one publish window. Alarms and device
states are not batched: they go at once, as in live mode.

Nothing is lost: a batched record stays in the outbox until the PUBACK of its batch (the
delivery's sweep reads it from there); a health row rides in the flight of its batch and comes
back to the queue if the connection drops before the PUBACK. A batch goes when `interval` has
passed since the last one, when `max_records` records wait, at once after a (re)connect (a
backlog drains in full messages, one after the other), and never empty.

No I/O; the monotonic clock is passed in.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from edged.config.site import TelemetryConfig
from edged.readings import Record
from telemetry.outgoing import HealthRow, Outgoing

HEALTH_ROWS_MAX = 5000
"""Health rows waiting for a batch (a few days of an outage at one round a minute); the oldest
go first past that: the health table keeps them on the card."""


class Batching:
    """The batch clock, the health rows waiting, and the live window (module docstring)."""

    def __init__(
        self,
        *,
        interval: float,
        max_records: int,
        live_max: float,
        mono: Callable[[], float],
    ) -> None:
        self.interval = interval
        self.max_records = max_records
        self._live_max = live_max
        self._mono = mono
        self._last = mono()
        self._waiting = 0  # records committed for the sweep since the last batch
        self._drain = False  # send now: a (re)connect, or the outbox held more than a batch
        self._live_until = 0.0
        self.health: deque[HealthRow] = deque(maxlen=HEALTH_ROWS_MAX)

    @classmethod
    def for_mode(cls, telemetry: TelemetryConfig) -> Batching | None:
        """The frugal mode's rules for `[telemetry]`, or None in live mode."""
        if telemetry.mode != "frugal":
            return None
        return cls(
            interval=telemetry.batch_interval,
            max_records=telemetry.batch_max_records,
            live_max=telemetry.live_max_minutes * 60.0,
            mono=time.monotonic,
        )

    # -- live ------------------------------------------------------------------------------

    def request_live(self, seconds: float) -> float:
        """Turn live records on for `seconds` (capped at `live_max`; 0 turns them off). Returns
        the seconds granted."""
        granted = max(0.0, min(seconds, self._live_max))
        self._live_until = self._mono() + granted
        return granted

    def live_wanted(self) -> bool:
        return self._mono() < self._live_until

    # -- the batch clock --------------------------------------------------------------------

    def waiting(self, count: int) -> None:
        """`count` records were committed for the sweep."""
        self._waiting += count

    def drain(self) -> None:
        """Send what waits at the next chance (a new connection)."""
        self._drain = True

    def due(self, records_waiting: bool) -> bool:
        """Whether to read the outbox and send a batch now."""
        if not (records_waiting or self.health):
            return False
        return (
            self._drain
            or self._waiting >= self.max_records
            or self._mono() - self._last >= self.interval
        )

    def wake_at(self, records_waiting: bool) -> float | None:
        """Monotonic time the next batch falls due, if anything waits for one."""
        if not (records_waiting or self.health):
            return None
        return self._last + self.interval

    def messages(self, batches: Sequence[Sequence[Record]], complete: bool) -> list[Outgoing]:
        """The batch messages for what the sweep found (cut by `cut`): the health rows ride in
        the first (or alone, when no record waits). `complete`: the sweep read all there was."""
        if not batches and not self.health:
            self._drain = not complete
            return []
        messages = [Outgoing("batch", records=tuple(batch)) for batch in batches] or [
            Outgoing("batch")
        ]
        rows = tuple(self.health)
        self.health.clear()
        first = messages[0]
        messages[0] = Outgoing("batch", records=first.records, health=rows)
        self._last = self._mono()
        self._drain = not complete
        if complete:
            self._waiting = 0
        return messages

    def returned(self, rows: Iterable[HealthRow]) -> None:
        """Health rows of a batch that got no PUBACK: back in front of the queue."""
        self.health.extendleft(reversed(list(rows)))


def cut(records: Sequence[Record], size: int, max_messages: int) -> list[list[Record]]:
    """The sweep's records (every device, oldest first) in at most `max_messages` batches of at
    most `size` records."""
    return [list(records[i : i + size]) for i in range(0, len(records), size)][:max_messages]
