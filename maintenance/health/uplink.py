"""Health of the uplink: is the broker reachable, how often, how fast, and how much data is spent.

Pure trackers fed by the daemon, plus `collect_uplink` which reads /proc/net/dev and, if asked,
times a TCP connect to the broker (`checks.check_tcp`), and returns one `HealthReading`:
- `ConnectionTracker`: connect/disconnect events with wall-clock times -> share of the window
  (default 24 h) spent connected. Time before the first event is unknown and left out.
- `RoundTrip`: publish -> PUBACK times from the publisher (`sent(mid, t)`, `acked(mid, t)`, or
  ready-made `add(seconds)`); keeps the last `size` samples and what is still unacknowledged.
- `traffic.TrafficAccumulator`: bytes today and this cycle against the monthly budget.

| value | unit | meaning |
|---|---|---|
| connected | bool | state after the last event; None before any |
| connected_ratio | 0–1 | time connected / time observed within the window |
| disconnects | count | connected -> disconnected transitions within the window |
| broker_connect_ms | ms | TCP connect time to the broker; None if not measured or failed |
| rtt_last_ms, rtt_median_ms, rtt_max_ms | ms | publish -> PUBACK over the last samples |
| unacked | count | publishes sent and not yet acknowledged |
| oldest_unacked_s | s | age of the oldest of them (monotonic clock) |
| rx_bytes_today, tx_bytes_today, bytes_today | bytes | this calendar day (configured zone) |
| rx_bytes_month, tx_bytes_month, bytes_month | bytes | this billing cycle |
| budget_bytes | bytes | the configured monthly budget; None if none |
| budget_used_percent | % | bytes_month / budget_bytes |
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable
from pathlib import Path

from maintenance.health.checks import Status, check_tcp
from maintenance.health.reading import HealthReading, HealthValue, ms
from maintenance.health.traffic import TrafficAccumulator, read_boot_id, read_net_dev

MAX_PENDING = 1000


def median(values: deque[float]) -> float:
    """The middle value (mean of the two middle ones for an even count): `statistics.median`
    without importing statistics, fractions and decimal into the daemon (~0.8 MB)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


class ConnectionTracker:
    """Connect/disconnect events (wall clock) -> connected share of a sliding window."""

    def __init__(self, window: float = 86400.0) -> None:
        self.window = window
        self._events: deque[tuple[float, bool]] = deque()

    @property
    def connected(self) -> bool | None:
        return self._events[-1][1] if self._events else None

    def event(self, ts: float, connected: bool) -> None:
        if self._events and ts < self._events[-1][0]:
            ts = self._events[-1][0]  # a clock stepping back must not make negative spans
        self._events.append((ts, connected))

    def figures(self, now: float) -> dict[str, HealthValue]:
        """Figures over [now - window, now]; drops events that no longer matter."""
        start = now - self.window
        while len(self._events) > 1 and self._events[1][0] <= start:
            self._events.popleft()  # the state at the window's start is all we need of the past
        up = seen = 0.0
        disconnects = 0
        previous: bool | None = None
        for i, (ts, state) in enumerate(self._events):
            end = self._events[i + 1][0] if i + 1 < len(self._events) else now
            span = max(0.0, min(end, now) - max(ts, start))
            seen += span
            up += span if state else 0.0
            if previous and not state and ts >= start:
                disconnects += 1
            previous = state
        return {
            "connected": self.connected,
            "connected_ratio": round(up / seen, 4) if seen > 0 else None,
            "disconnects": disconnects,
        }


class RoundTrip:
    """Publish -> PUBACK times. All times given to it are `time.monotonic()` seconds."""

    def __init__(self, size: int = 50) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._pending: dict[Hashable, float] = {}

    def sent(self, key: Hashable, t: float) -> None:
        if len(self._pending) >= MAX_PENDING:  # a broker that never acks must not grow memory
            self._pending.pop(next(iter(self._pending)))
        self._pending[key] = t

    def acked(self, key: Hashable, t: float) -> float | None:
        start = self._pending.pop(key, None)
        if start is None:
            return None
        self.add(t - start)
        return t - start

    def add(self, seconds: float) -> None:
        self._samples.append(max(0.0, seconds))

    def forget_pending(self) -> None:
        """After a disconnect the broker will never ack what was in flight (it is resent)."""
        self._pending.clear()

    def figures(self, now: float) -> dict[str, HealthValue]:
        samples = self._samples
        oldest = min(self._pending.values(), default=None)
        return {
            "rtt_last_ms": ms(samples[-1]) if samples else None,
            "rtt_median_ms": ms(median(samples)) if samples else None,
            "rtt_max_ms": ms(max(samples)) if samples else None,
            "unacked": len(self._pending),
            "oldest_unacked_s": None if oldest is None else round(max(0.0, now - oldest), 3),
        }


def collect_uplink(
    now: float,
    traffic: TrafficAccumulator,
    interface: str,
    link: ConnectionTracker | None = None,
    rtt: RoundTrip | None = None,
    budget_bytes: int | None = None,
    broker: tuple[str, int] | None = None,
    root: Path = Path("/"),
) -> HealthReading:
    """Read the interface counters into `traffic`, then gather every uplink figure."""
    counters = read_net_dev(root, interface)
    traffic.update(now, counters, read_boot_id(root))
    values: dict[str, HealthValue] = {}
    problems = [] if counters is not None else [f"interface {interface!r} absent"]
    if link is not None:
        values.update(link.figures(now))
        if values["connected"] is False:
            problems.append("broker disconnected")
    if rtt is not None:
        values.update(rtt.figures(time.monotonic()))
    if broker is not None:
        result = check_tcp(*broker, timeout=5.0)
        latency = result.latency_s if result.status is Status.OK else None
        values["broker_connect_ms"] = ms(latency)
        if latency is None:
            problems.append(result.detail)
    figures = traffic.figures(now, budget_bytes)
    values.update(figures)
    spent = figures["bytes_month"]
    if budget_bytes and isinstance(spent, int) and spent >= budget_bytes:
        problems.append("monthly data budget spent")
    return HealthReading("uplink", values, ok=not problems, detail="; ".join(problems))
