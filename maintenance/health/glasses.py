"""Presence of portable equipment (the Iristick smart glasses) and how it is used.

Three ways to see an item, any of which counts:
- USB: a device under `root/sys/bus/usb/devices/` whose idVendor:idProduct is configured for the
  item (docked on the PiBox). Iristick's ids are not published here, so none is assumed: the
  site's technician reads them with `lsusb` and configures them (`vvvv:pppp`, or `vvvv:*`).
- LAN: a TCP connect to the companion phone's `host:port` succeeds (refused = app not running).
- report: the companion app or a technician POSTed to the local endpoint (report_server.py)
  within `report_ttl` seconds; only a report says battery and charging.

Docked by USB counts as charging when `usb_charging` (the dock is a charger); otherwise charging
is unknown unless reported. The derived figures come from `usage.UsageTracker`.

| value | unit | meaning |
|---|---|---|
| seen | bool | seen by any source this round |
| seen_by | text | sources that saw it, comma-separated (`usb,lan,report`), empty if none |
| usb_present, lan_present | bool | per source; None when that source is not configured |
| lan_latency_ms | ms | TCP connect time to the phone; None if not connected |
| report_age_s | s | age of the latest report; None if none since start |
| battery | % | from a fresh report, else None |
| charging | bool | from a fresh report, else True when docked and usb_charging, else None |
| battery_last | % | last battery ever reported |
| last_seen | unix s | last round it was seen; None if never |
| days_unseen | days | now - last_seen |
| charge_sessions | count | starts of charging (see usage.py) |
| hours_of_use | h | time seen and not charging |
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from maintenance.health.checks import Status, check_tcp
from maintenance.health.reading import HealthReading, HealthValue, ms
from maintenance.health.report_server import Report
from maintenance.health.usage import Observation, UsageTracker
from maintenance.health.usb_id import UsbId

log = logging.getLogger(__name__)

USB_DIR = "sys/bus/usb/devices"


@dataclass(frozen=True, slots=True)
class EquipmentSpec:
    item: str
    usb_ids: tuple[UsbId, ...] = ()
    lan_host: str | None = None
    lan_port: int | None = None
    lan_timeout: float = 2.0
    report_ttl: float = 900.0
    usb_charging: bool = True
    max_gap: float = 900.0


def scan_usb(root: Path, ids: tuple[UsbId, ...]) -> list[str]:
    """Names (e.g. `1-1.2`) of USB devices matching any id; interfaces and junk are skipped."""
    found = []
    for vendor_file in sorted((root / USB_DIR).glob("*/idVendor")):
        try:
            vendor = int(vendor_file.read_text().strip(), 16)
            product = int((vendor_file.parent / "idProduct").read_text().strip(), 16)
        except (OSError, ValueError):
            continue  # unplugged mid-scan, or a file we do not understand
        if any(i.matches(vendor, product) for i in ids):
            found.append(vendor_file.parent.name)
    return found


class Equipment:
    """One item: its sources this round, and its tracker across rounds."""

    def __init__(self, spec: EquipmentSpec, tracker: UsageTracker | None = None) -> None:
        self.spec = spec
        self.tracker = tracker if tracker is not None else UsageTracker(max_gap=spec.max_gap)

    def collect(
        self, now: float, report: Report | None = None, root: Path = Path("/")
    ) -> HealthReading:
        """Look once (USB scan, LAN connect: blocks up to lan_timeout), feed the tracker."""
        values, seen_by, observation = self._sources(now, report, root)
        values["seen"], values["seen_by"] = bool(seen_by), ",".join(seen_by)
        self.tracker.observe(observation)
        values.update(self.tracker.figures(now))
        detail = "" if seen_by else _unseen_detail(self.tracker.last_seen, now)
        return HealthReading(self.spec.item, values, ok=bool(seen_by), detail=detail)

    def _sources(
        self, now: float, report: Report | None, root: Path
    ) -> tuple[dict[str, HealthValue], list[str], Observation]:
        spec = self.spec
        usb = bool(scan_usb(root, spec.usb_ids)) if spec.usb_ids else None
        lan, latency = None, None
        if spec.lan_host and spec.lan_port:
            result = check_tcp(spec.lan_host, spec.lan_port, spec.lan_timeout)
            lan = result.status is Status.OK
            latency = ms(result.latency_s) if lan else None
        age = None if report is None else max(0.0, now - report.received)
        fresh = report if age is not None and age <= spec.report_ttl else None
        charging = fresh.charging if fresh else None
        if charging is None and usb and spec.usb_charging:
            charging = True
        battery = fresh.battery if fresh else None
        values: dict[str, HealthValue] = {
            "usb_present": usb,
            "lan_present": lan,
            "lan_latency_ms": latency,
            "report_age_s": None if age is None else round(age, 1),
            "battery": battery,
            "charging": charging,
        }
        seen_by = [name for name, hit in (("usb", usb), ("lan", lan), ("report", fresh)) if hit]
        return values, seen_by, Observation(now, bool(seen_by), charging, battery)


def _unseen_detail(last_seen: float | None, now: float) -> str:
    if last_seen is None:
        return "never seen"
    return f"not seen for {max(0.0, now - last_seen) / 86400:.1f} days"
