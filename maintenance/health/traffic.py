"""Bytes over the uplink today and this billing month, against the clinic's data budget.

The kernel's per-interface counters (`/proc/net/dev`) restart from zero at every reboot and every
time a 3G modem's `ppp0`/`wwan0` is re-created, so the accumulator adds *deltas*: a counter lower
than the previous reading (or a new boot id) means it restarted, and its whole value is new
traffic; an interface that disappeared counts from zero when it returns. The first reading after
a start without saved state is only a baseline: traffic before it is unknown, not ours to claim.

Deltas land in the day and cycle of the later reading. Buckets roll forward only: a clock that
steps back (a Pi without RTC boots in 1970 until NTP) keeps counting into the current buckets.
The billing cycle starts on `cycle_day` (1 = calendar month) in the configured time zone.

Pure accumulator plus a thin reader; the state round-trips through `to_dict`/`from_dict` so the
daemon can save it and a reboot loses nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from maintenance.health.reading import HealthValue

NET_DEV = "proc/net/dev"
BOOT_ID = "proc/sys/kernel/random/boot_id"


def parse_net_dev(text: str) -> dict[str, tuple[int, int]]:
    """`{interface: (rx_bytes, tx_bytes)}`; malformed lines are skipped."""
    counters = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or len(fields) < 9:
            continue
        try:
            counters[name.strip()] = (int(fields[0]), int(fields[8]))
        except ValueError:
            continue
    return counters


def read_net_dev(root: Path, interface: str) -> tuple[int, int] | None:
    """The interface's (rx, tx) byte counters, None when it does not exist right now."""
    try:
        return parse_net_dev((root / NET_DEV).read_text()).get(interface)
    except OSError:
        return None


def read_boot_id(root: Path) -> str | None:
    try:
        return (root / BOOT_ID).read_text().strip() or None
    except OSError:
        return None


def cycle_key(date: dt.date, cycle_day: int = 1) -> str:
    """`YYYY-MM` of the month in which the billing cycle containing `date` started."""
    year, month = date.year, date.month
    if date.day < cycle_day:
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return f"{year:04d}-{month:02d}"


@dataclass(slots=True)
class TrafficAccumulator:
    cycle_day: int = 1
    timezone: str = "UTC"
    prev_rx: int | None = None
    prev_tx: int | None = None
    boot_id: str | None = None
    day: str = ""
    day_rx: int = 0
    day_tx: int = 0
    cycle: str = ""
    cycle_rx: int = 0
    cycle_tx: int = 0

    def update(self, ts: float, counters: tuple[int, int] | None, boot_id: str | None = None):
        """One reading at wall time `ts`; `counters` None when the interface is absent."""
        self._roll(ts)
        if counters is None:
            self.prev_rx = self.prev_tx = 0  # when it comes back it counts from zero
            return
        rx, tx = counters
        rebooted = boot_id is not None and self.boot_id is not None and boot_id != self.boot_id
        if self.prev_rx is not None and self.prev_tx is not None:
            d_rx = _delta(self.prev_rx, rx, rebooted)
            d_tx = _delta(self.prev_tx, tx, rebooted)
            self.day_rx, self.day_tx = self.day_rx + d_rx, self.day_tx + d_tx
            self.cycle_rx, self.cycle_tx = self.cycle_rx + d_rx, self.cycle_tx + d_tx
        self.prev_rx, self.prev_tx = rx, tx
        self.boot_id = boot_id or self.boot_id

    def figures(self, now: float, budget_bytes: int | None = None) -> dict[str, HealthValue]:
        """Totals as of `now`: zero for a day or cycle with no reading yet (a clock behind the
        buckets reports the current ones, like `update` counts into them)."""
        day, cycle = self._keys(now)
        rx_d, tx_d = (self.day_rx, self.day_tx) if day <= self.day else (0, 0)
        rx_m, tx_m = (self.cycle_rx, self.cycle_tx) if cycle <= self.cycle else (0, 0)
        used = None if not budget_bytes else round(100.0 * (rx_m + tx_m) / budget_bytes, 2)
        return {
            "rx_bytes_today": rx_d,
            "tx_bytes_today": tx_d,
            "bytes_today": rx_d + tx_d,
            "rx_bytes_month": rx_m,
            "tx_bytes_month": tx_m,
            "bytes_month": rx_m + tx_m,
            "budget_bytes": budget_bytes,
            "budget_used_percent": used,
        }

    def _keys(self, ts: float) -> tuple[str, str]:
        date = dt.datetime.fromtimestamp(ts, ZoneInfo(self.timezone)).date()
        return date.isoformat(), cycle_key(date, self.cycle_day)

    def _roll(self, ts: float) -> None:
        day, cycle = self._keys(ts)
        if day > self.day:
            self.day, self.day_rx, self.day_tx = day, 0, 0
        if cycle > self.cycle:
            self.cycle, self.cycle_rx, self.cycle_tx = cycle, 0, 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrafficAccumulator:
        return cls(**data)


def _delta(prev: int, now: int, restarted: bool) -> int:
    return now if restarted or now < prev else now - prev
