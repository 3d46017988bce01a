"""One runner thread per device: the core's side of the driver contract.

The runner owns what drivers must not do (see `drivers.base`): it opens the driver, reads, reopens
with capped backoff after the port vanishes, stamps readings into samples with the wall clock and
its quality, keeps at most one sample per configured interval, computes ok/stale/offline from the
last good read, and logs each transition once. It hands samples and state to callables; it knows
nothing of SQLite or MQTT.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from drivers.base import DeviceUnavailable, Driver, DriverError, ProtocolError
from edged.clock import ClockWatch
from edged.config.settings import DeviceConfig
from edged.liveness import Backoff, State, state
from edged.readings import Reading, Sample

log = logging.getLogger(__name__)

StateSink = Callable[[str, dict[str, Any], bool], None]
"""(device id, state dict, changed): changed is True on an ok/stale/offline transition and when
the device's identity (product, serial, firmware) changed."""

STATE_REFRESH = 60.0  # seconds between unchanged state snapshots (counters) to the store
READ_WINDOW = 1.0  # how long one read() may block, so liveness and stop are checked often


class DeviceRunner(threading.Thread):
    def __init__(
        self,
        device: DeviceConfig,
        driver: Driver,
        *,
        push: bool,
        on_sample: Callable[[Sample], None],
        on_state: StateSink,
        clock: ClockWatch,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"device-{device.id}", daemon=True)
        self.device, self.driver, self.push = device, driver, push
        self.on_sample, self.on_state, self.clock, self.stop = on_sample, on_state, clock, stop
        self.backoff = Backoff()
        self.is_open = False
        self.last_good: float | None = None
        self.last_seen_wall: float | None = None
        self.last_accept = -1e18
        self.samples = 0
        self.latest: Sample | None = None
        self.latest_data: dict[str, Any] = {}
        """The last reading's values outside the catalogue (e.g. every cell voltage of a BMS)."""
        self.reported = State.OFFLINE
        self.reported_info: dict[str, Any] = {}
        self.reported_at = -1e18
        self.unavailable_logged = False

    def run(self) -> None:
        next_poll = time.monotonic()
        while not self.stop.is_set():
            if not self.is_open and not self._open():
                self._publish_state()
                self.stop.wait(self.backoff.next())
                continue
            if not self.push:
                self.stop.wait(max(0.0, next_poll - time.monotonic()))
                if self.stop.is_set():
                    break
                next_poll = max(next_poll + self.device.interval, time.monotonic())
            self._read_once()
            self._publish_state()
        self._close()
        # final counters for `edged status`; the state itself is unchanged by stopping
        self.on_state(self.device.id, self.snapshot(self.reported), False)

    def _open(self) -> bool:
        try:
            self.driver.open()
        except DeviceUnavailable as exc:
            if not self.unavailable_logged:
                log.warning("device %s unavailable: %s; retrying", self.device.id, exc)
                self.unavailable_logged = True
            return False
        self.is_open = True
        return True

    def _read_once(self) -> None:
        window = READ_WINDOW if self.push else min(self.device.interval, 10.0)
        try:
            readings = self.driver.read(time.monotonic() + window)
        except DeviceUnavailable as exc:
            if not self.unavailable_logged:  # once per outage, not once per retry
                log.warning("device %s lost: %s; reopening", self.device.id, exc)
                self.unavailable_logged = True
            self._close()
            return
        except ProtocolError as exc:
            log.debug("device %s protocol error: %s", self.device.id, exc)
            return
        for reading in readings:
            self._accept(reading)

    def _accept(self, reading: Reading) -> None:
        if self.unavailable_logged:
            log.info("device %s: reading again", self.device.id)
            self.unavailable_logged = False
        self.backoff.reset()
        now = time.monotonic()
        if reading.extra:
            self.latest_data = dict(reading.extra)
        self.last_good = now
        self.last_seen_wall = time.time()
        if not reading.metrics or now - self.last_accept < self.device.interval * 0.8:
            return
        self.last_accept = now
        self.samples += 1
        synced = self.clock.synced(self.last_seen_wall, now)
        self.latest = Sample(self.device.id, self.last_seen_wall, synced, dict(reading.metrics))
        self.on_sample(self.latest)

    def _publish_state(self) -> None:
        now = time.monotonic()
        current = state(self.last_good, now, self.device.stale_after, self.device.offline_after)
        info = dict(self.driver.info)  # a reconnect may bring a new serial or firmware
        changed = current is not self.reported or info != self.reported_info
        if not changed and now - self.reported_at < STATE_REFRESH:
            return
        if current is not self.reported:
            log.info("device %s: %s -> %s", self.device.id, self.reported.value, current.value)
        self.reported, self.reported_at, self.reported_info = current, now, info
        self.on_state(self.device.id, self.snapshot(current), changed)

    def live_view(self) -> dict[str, Any]:
        """What `edged status` shows while the daemon runs: state as of now, latest sample."""
        now = time.monotonic()
        current = state(self.last_good, now, self.device.stale_after, self.device.offline_after)
        view = self.snapshot(current)
        latest = self.latest
        view["latest"] = latest and {
            "ts": latest.ts,
            "clock_synced": latest.clock_synced,
            "metrics": latest.metrics,
        }
        return view

    def snapshot(self, current: State) -> dict[str, Any]:
        counters = self.driver.counters
        return {
            "state": current.value,
            "last_seen": self.last_seen_wall,
            "info": dict(self.driver.info),
            "data": dict(self.latest_data),
            "counters": {
                "accepted": counters.accepted,
                "rejected": counters.rejected,
                "samples": self.samples,
                **{f"rejected_{k}": v for k, v in counters.reasons.items()},
            },
        }

    def _close(self) -> None:
        if self.is_open:
            try:
                self.driver.close()
            except (OSError, DriverError):  # closing a vanished port may fail; it is gone anyway
                log.debug("device %s: close failed", self.device.id, exc_info=True)
        self.is_open = False
