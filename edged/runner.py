"""One runner thread per device: the core's side of the driver contract.

The runner owns what drivers must not do (see `drivers.base`): it opens the driver, reads, reopens
with capped backoff after the port vanishes, stamps readings into samples with the wall clock and
its quality, keeps at most one sample per configured interval, computes ok/stale/offline from the
last good read, and logs each transition once. It hands samples and state to callables; it knows
nothing of SQLite or MQTT.

It is also the one place where every driver's values are checked against the catalogue's bounds
(`edged.metrics.check`) before they go on: a refused value is counted and never stored. A driver
that raises anything but its two errors has a bug: the runner counts it (`driver_errors`), logs
the traceback once per burst, and reopens the device with backoff; its state goes stale, then
offline, like any device that stops reading.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from drivers.base import DeviceUnavailable, Driver, DriverError, ProtocolError
from edged import metrics
from edged.clock import ClockWatch
from edged.config.devices import DeviceConfig
from edged.liveness import Backoff, state
from edged.readings import DeviceState, Liveness, Reading, Sample
from telemetry.event_log import EventLog

log = logging.getLogger(__name__)

StateSink = Callable[[str, DeviceState, bool], None]
"""(device id, state, changed): changed is True on an ok/stale/offline transition and when
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
        self.reported = Liveness.OFFLINE
        self.reported_info: dict[str, Any] = {}
        self.reported_at = -1e18
        self.unavailable_logged = False
        self.driver_errors = 0
        self.driver_error_logged = False
        self.refused: dict[str, int] = {}
        """Values `metrics.check` refused, by reason (shown as `rejected_<reason>` counters)."""
        self.refusing: set[str] = set()
        """Metrics in a burst of refused values (logged once when the burst starts)."""
        self.events = EventLog(log, f"device {device.id}")
        """Losses, returns and state changes: logged once each, counted when the port flaps."""

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
        except DriverError as exc:
            if not self.unavailable_logged:
                self.events.log(
                    logging.WARNING, "device %s unavailable: %s; retrying", self.device.id, exc
                )
                self.unavailable_logged = True
            return False
        except Exception:  # a driver bug must not end this thread: counted, retried with backoff
            self._driver_bug("open")
            return False
        self.is_open = True
        return True

    def _read_once(self) -> None:
        window = READ_WINDOW if self.push else min(self.device.interval, 10.0)
        try:
            readings = self.driver.read(time.monotonic() + window)
        except DeviceUnavailable as exc:
            if not self.unavailable_logged:  # once per outage, not once per retry
                self.events.log(
                    logging.WARNING, "device %s lost: %s; reopening", self.device.id, exc
                )
                self.unavailable_logged = True
            self._close()
            return
        except ProtocolError as exc:
            log.debug("device %s protocol error: %s", self.device.id, exc)
            return
        except Exception:  # a driver bug: this device must go on being tried, not die silently
            self._driver_bug("read")
            self._close()
            self.stop.wait(self.backoff.next())  # else a driver failing at once spins
            return
        for reading in readings:
            self._accept(reading)

    def _driver_bug(self, during: str) -> None:
        """Count an unexpected exception from the driver; its traceback once per burst."""
        self.driver_errors += 1
        if not self.driver_error_logged:
            log.exception(
                "device %s: driver bug during %s (counted in driver_errors); reopening",
                self.device.id,
                during,
            )
            self.driver_error_logged = True
        else:
            log.debug("device %s: driver bug during %s", self.device.id, during, exc_info=True)

    def _accept(self, reading: Reading) -> None:
        values = self._checked(reading.metrics)
        if reading.metrics and not values:
            return  # nothing but refused values: not a good read, the device may go stale
        if self.unavailable_logged or self.driver_error_logged:
            self.events.log(logging.INFO, "device %s: reading again", self.device.id)
            self.unavailable_logged = self.driver_error_logged = False
        self.backoff.reset()
        now = time.monotonic()
        if reading.extra:
            self.latest_data = dict(reading.extra)
        self.last_good = now
        self.last_seen_wall = time.time()
        if not values or now - self.last_accept < self.device.interval * 0.8:
            return
        self.last_accept = now
        self.samples += 1
        synced = self.clock.synced(self.last_seen_wall, now)
        self.latest = Sample(self.device.id, self.last_seen_wall, synced, values)
        self.on_sample(self.latest)

    def _checked(self, values: dict[str, Any]) -> dict[str, Any]:
        """The values fit to store; the others counted, and logged once per (metric, burst)."""
        kept, refused = metrics.check(values)
        for bad in refused:
            self.refused[bad.reason] = self.refused.get(bad.reason, 0) + 1
            if bad.metric not in self.refusing:
                self.refusing.add(bad.metric)
                log.warning(
                    "device %s: %s value %s refused (%s); counted, not stored",
                    self.device.id,
                    bad.metric,
                    _quoted(bad.value),
                    bad.reason,
                )
        for name in self.refusing & kept.keys():
            self.refusing.discard(name)
            log.info("device %s: %s plausible again", self.device.id, name)
        return kept

    def _publish_state(self) -> None:
        self.events.tick()
        now = time.monotonic()
        current = state(self.last_good, now, self.device.stale_after, self.device.offline_after)
        info = dict(self.driver.info)  # a reconnect may bring a new serial or firmware
        changed = current is not self.reported or info != self.reported_info
        if not changed and now - self.reported_at < STATE_REFRESH:
            return
        if current is not self.reported:
            self.events.log(
                logging.INFO,
                "device %s: %s -> %s",
                self.device.id,
                self.reported.value,
                current.value,
            )
        self.reported, self.reported_at, self.reported_info = current, now, info
        self.on_state(self.device.id, self.snapshot(current), changed)

    def live_view(self) -> dict[str, Any]:
        """What `edged status` shows while the daemon runs: state as of now, latest sample."""
        now = time.monotonic()
        current = state(self.last_good, now, self.device.stale_after, self.device.offline_after)
        view = self.snapshot(current).to_dict()
        latest = self.latest
        view["transitions"] = {"total": self.events.events, "not_logged": self.events.muted}
        view["latest"] = latest and {
            "ts": latest.ts,
            "clock_synced": latest.clock_synced,
            "metrics": latest.metrics,
        }
        return view

    def snapshot(self, current: Liveness) -> DeviceState:
        """The device's state with its counters as of now (driver's and the runner's own)."""
        counters = self.driver.counters
        view = {
            "accepted": counters.accepted,
            "rejected": counters.rejected,
            "samples": self.samples,
            "driver_errors": self.driver_errors,
            **{f"rejected_{k}": v for k, v in counters.reasons.items()},
        }
        for reason, n in self.refused.items():
            key = f"rejected_{reason}"
            view[key] = view.get(key, 0) + n
        return DeviceState(
            current,
            self.last_seen_wall,
            info=dict(self.driver.info),
            counters=view,
            data=dict(self.latest_data),
        )

    def _close(self) -> None:
        if self.is_open:
            try:
                self.driver.close()
            except (OSError, DriverError):  # closing a vanished port may fail; it is gone anyway
                log.debug("device %s: close failed", self.device.id, exc_info=True)
            except Exception:  # a driver bug: counted like one in read, never the thread's end
                self._driver_bug("close")
        self.is_open = False


def _quoted(value: object, limit: int = 60) -> str:
    """`value!r` cut to `limit` characters: a crafted value may be hundreds of digits long."""
    try:
        text = repr(value)
    except ValueError:  # an int past the interpreter's digit limit cannot even be printed
        return f"<int of {value.bit_length()} bits>" if isinstance(value, int) else "<unprintable>"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
