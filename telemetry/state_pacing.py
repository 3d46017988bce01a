"""Which device states a commit writes: a change at once, an unchanged one now and then.

Runners hand their state to the Writer every minute only to refresh counters and `last_seen`;
writing each of those would cost the SD card a page per device per commit for nothing a reader
needs at once. A state whose liveness or info (the device's identity) changed goes into the next
commit; an unchanged one at most every `refresh` seconds; every waiting one at a clean stop.
`edged status` makes up for the held-back `last_seen` with the newest stored sample.

Not thread-safe on its own: the Writer calls `put` and `take` under its lock.
"""

from __future__ import annotations

from collections.abc import Iterable

from telemetry.rows import DeviceStateRow


class StatePacer:
    """The newest state per device waiting for a commit, and what each device last had written."""

    def __init__(self, refresh: float) -> None:
        self.refresh = refresh
        self._waiting: dict[str, DeviceStateRow] = {}
        self._written: dict[str, tuple[tuple, float]] = {}  # device -> (key, monotonic time)

    def put(self, row: DeviceStateRow) -> None:
        """Replace the device's waiting state (only the newest is ever written)."""
        self._waiting[row.device] = row

    def take(self, into: dict[str, DeviceStateRow], now: float, final: bool) -> None:
        """Move the states due at monotonic `now` into `into`, a commit's states.

        A state already in `into` (a failed commit's, kept for its retry) is replaced by the
        newer one whatever its pace: the retry must not write an older state than it has."""
        for device, row in list(self._waiting.items()):
            written = self._written.get(device)
            if (
                final
                or written is None
                or written[0] != row.key()
                or now - written[1] >= self.refresh
                or device in into
            ):
                into[device] = self._waiting.pop(device)

    def written(self, rows: Iterable[DeviceStateRow], now: float) -> None:
        """The commit that held `rows` succeeded at monotonic `now`."""
        self._written.update((row.device, (row.key(), now)) for row in rows)
