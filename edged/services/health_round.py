"""The health round: every `[health] interval`, look at the PiBox, its services, the equipment
and the uplink; publish, store and feed the alarm engine with what was seen.

One thread. Collectors are in maintenance/health (docs/health.md): they block at most their timeouts
and do not raise on absent hardware; a collector that fails anyway is logged once and skipped,
never allowed to stop the round. Each reading goes to `P/health/{component}` (payload
`{"ts", "ok", "detail", "values"}`, docs/mqtt.md), to one `health` row in the Writer's next
commit, and to the alarm service. The publisher's connection events and publish round trips
feed the uplink trackers (`on_link`, `on_rtt`, called on the publisher's thread).

Counters that must survive a restart (glasses usage, uplink bytes this month) are saved as `kv`
rows in the same commits and loaded when the round starts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edged.config.settings import Config
from maintenance.health.checks import CheckMonitor
from maintenance.health.pibox import collect_host
from maintenance.health.reading import HealthReading
from maintenance.health.traffic import TrafficAccumulator
from maintenance.health.uplink import ConnectionTracker, RoundTrip, collect_uplink
from maintenance.health.usage import UsageTracker
from telemetry import queries
from telemetry.database import DatabaseError
from telemetry.rows import HealthRow, KvRow
from telemetry.writer import Writer

if TYPE_CHECKING:  # imported when configured: smart glasses and their report endpoint bring
    # http.server, socketserver and the glasses' checks (bench/bench_imports.py)
    from maintenance.health.glasses import EquipmentSpec
    from maintenance.health.report_server import ReportServer

log = logging.getLogger(__name__)

TRAFFIC_KEY = "uplink.traffic"
USAGE_KEY = "usage.{item}"


def equipment_spec(item) -> EquipmentSpec:
    from maintenance.health.glasses import EquipmentSpec, UsbId

    return EquipmentSpec(
        item.item,
        tuple(UsbId.parse(u) for u in item.usb_ids),
        item.lan_host,
        item.lan_port,
        item.lan_timeout,
        item.report_ttl,
        item.usb_charging,
        item.max_gap,
    )


class HealthRound(threading.Thread):
    def __init__(
        self,
        config: Config,
        writer: Writer,
        stop: threading.Event,
        on_reading: Callable[[HealthReading, float], None] | None = None,
    ) -> None:
        super().__init__(name="edged-health", daemon=True)
        self.config, self.writer, self.stop_event = config, writer, stop
        self.on_reading = on_reading
        self.publisher = None  # set by the daemon once built (it needs on_link/on_rtt first)
        health = config.health
        self.root = Path(health.sysfs_root)
        self.monitors = [CheckMonitor(c) for c in health.checks]
        self.equipment = []
        if health.equipment:
            from maintenance.health.glasses import Equipment

            self.equipment = [Equipment(equipment_spec(e)) for e in health.equipment]
        uplink = health.uplink
        self.traffic = TrafficAccumulator(uplink.cycle_day, uplink.timezone) if uplink else None
        self.link = ConnectionTracker(uplink.window_h * 3600.0 if uplink else 86400.0)
        self.rtt = RoundTrip()
        self._uplink_lock = threading.Lock()  # the trackers are fed from the publisher thread
        self.server: ReportServer | None = None
        self.latest: dict[str, dict[str, Any]] = {}
        self._failed: set[str] = set()

    # --- the publisher's thread -----------------------------------------------------------------

    def on_link(self, connected: bool, ts: float) -> None:
        with self._uplink_lock:
            self.link.event(ts, connected)
            if not connected:
                self.rtt.forget_pending()

    def on_rtt(self, seconds: float) -> None:
        with self._uplink_lock:
            self.rtt.add(seconds)

    # --- the health thread ----------------------------------------------------------------------

    def run(self) -> None:
        self._load_state()
        self._start_server()
        interval = self.config.health.interval
        next_round = time.monotonic()
        try:
            while not self.stop_event.wait(max(0.0, next_round - time.monotonic())):
                next_round = max(next_round + interval, time.monotonic())
                self.round(time.time())
        finally:
            if self.server is not None:
                self.server.stop()

    def round(self, now: float) -> list[HealthReading]:
        """Collect every component once, then publish, store and feed each reading."""
        readings = [r for r in self._collect(now) if r is not None]
        for reading in readings:
            payload = {"ts": round(now, 3), **reading.payload()}
            self.latest[reading.component] = payload
            if self.publisher is not None:
                self.publisher.publish_health(reading.component, payload)
            values = json.dumps(reading.values, separators=(",", ":"), default=str)
            self.writer.put_row(HealthRow(reading.component, now, reading.ok, values))
            if self.on_reading is not None:
                self.on_reading(reading, now)
        self._save_state()
        return readings

    def _collect(self, now: float) -> list[HealthReading | None]:
        health = self.config.health
        out = [self._safe("pibox", lambda: collect_host(self.root, health.data_path))]
        out += [self._safe(m.spec.name, lambda m=m: m.run(now)) for m in self.monitors]
        for item in self.equipment:
            report = self.server.latest(item.spec.item) if self.server else None
            out.append(
                self._safe(item.spec.item, lambda i=item, r=report: i.collect(now, r, self.root))
            )
        if self.traffic is not None:
            out.append(self._safe("uplink", lambda: self._uplink(now)))
        return out

    def _uplink(self, now: float) -> HealthReading:
        cfg, mqtt = self.config.health.uplink, self.config.mqtt
        budget = int(cfg.monthly_budget_mb * 1024 * 1024) if cfg.monthly_budget_mb else None
        broker = (mqtt.host, mqtt.port) if cfg.broker_check and mqtt.enabled else None
        with self._uplink_lock:
            return collect_uplink(
                now, self.traffic, cfg.interface, self.link, self.rtt, budget, broker, self.root
            )

    def _safe(self, component: str, collect: Callable[[], HealthReading]) -> HealthReading | None:
        try:
            reading = collect()
        except Exception:  # a collector bug must cost its component, never the round
            if component not in self._failed:
                log.exception("health collector %s failed", component)
            self._failed.add(component)
            return None
        self._failed.discard(component)
        return reading

    def _start_server(self) -> None:
        report = self.config.health.report
        if report is None:
            return
        from maintenance.health.report_server import ReportServer

        try:
            items = [e.spec.item for e in self.equipment]
            self.server = ReportServer(report.bind, report.port, items, report.token)
            self.server.start()
        except OSError as exc:
            log.error("report endpoint %s:%s unavailable: %s", report.bind, report.port, exc)
            self.server = None

    def _load_state(self) -> None:
        try:
            state = self.writer.call(queries.saved_state)
        except (RuntimeError, TimeoutError, DatabaseError) as exc:
            log.error("cannot load the saved health counters (they restart): %s", exc)
            return
        try:
            if self.traffic is not None and TRAFFIC_KEY in state:
                saved = json.loads(state[TRAFFIC_KEY])
                saved.update(cycle_day=self.traffic.cycle_day, timezone=self.traffic.timezone)
                self.traffic = TrafficAccumulator.from_dict(saved)
            for item in self.equipment:
                key = USAGE_KEY.format(item=item.spec.item)
                if key in state:
                    item.tracker = UsageTracker.from_dict(json.loads(state[key]))
                    item.tracker.max_gap = item.spec.max_gap
        except (ValueError, TypeError) as exc:
            log.warning("saved health counters unreadable, starting afresh: %s", exc)

    def _save_state(self) -> None:
        if self.traffic is not None:
            with self._uplink_lock:
                self.writer.put_row(KvRow(TRAFFIC_KEY, json.dumps(self.traffic.to_dict())))
        for item in self.equipment:
            key = USAGE_KEY.format(item=item.spec.item)
            self.writer.put_row(KvRow(key, json.dumps(item.tracker.to_dict())))
