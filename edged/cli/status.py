"""`edged status`: what the daemon last saw, read from the database, for people or for scripts.

Reads through a read-only connection so it works beside a running daemon. Every value shown comes
with its age; a device that is not `ok` is said so first, in words a nurse can read.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edged import live
from edged.cli import i18n, schedule_view, staff_view, status_equipment
from edged.cli.alarms import line as alarm_line
from edged.cli.alarms import stored_alarms as stored_alarm_rows
from edged.cli.i18n import N_, t, tr
from edged.cli.schedule import stored_power
from edged.config.settings import Config
from edged.liveness import state
from edged.metrics import CATALOGUE
from edged.readings import DeviceState, Liveness
from telemetry import queries, status_view
from telemetry.store import open_db

log = logging.getLogger(__name__)


def collect(config: Config) -> dict[str, Any] | None:
    """The status as plain data (the `--json` output); None when there is no database yet.

    While the daemon runs its live view (RAM) is the source; the database, aged, otherwise.
    """
    if not Path(config.storage.path).exists():
        return None
    db = open_db(config.storage.path, readonly=True)
    try:
        devices = status_view.device_overview(db)
        outbox = status_view.outbox_size(db)
        stored_alarms = stored_alarm_rows(db, active_only=True)
        health = _stored_health(db)
    finally:
        db.conn.close()
    now = time.time()
    view = next(filter(None, (live.read(p, now) for p in live.candidates(config))), None)
    alarms = stored_alarms
    if view is not None:
        health = view.get("health") or health
        by_id = {a["alarm_id"]: a for a in stored_alarms}
        alarms = [{**a, **_ack_of(by_id.get(a["alarm_id"]))} for a in view.get("alarms", [])]
        running = _running_devices(view.get("devices"))
        devices = [running.get(d["device"], d) for d in devices]
        devices += [d for name, d in running.items() if name not in {x["device"] for x in devices}]
    else:
        for device in devices:
            device["state"] = _aged_state(device, config, now)
    stopped_since = None
    if view is None:
        written = [w for w in map(live.last_written, live.candidates(config)) if w]
        seen = [d["last_seen"] for d in devices if d.get("last_seen")]
        stopped_since = max(written or seen or [0.0]) or None
    return {
        "site": {"id": config.site.id, "name": config.site.name},
        "database": config.storage.path,
        "now": now,
        "daemon": "running" if view is not None else "stopped",
        "stopped_since": stopped_since,
        "mqtt_connected": bool(view and view.get("mqtt_connected")),
        "outbox": outbox,
        "devices": sorted(devices, key=lambda d: d["device"]),
        "alarms": sorted(alarms, key=lambda a: (a["severity"] != "critical", -a["since"])),
        "health": health,
        "power": (view or {}).get("power") if view is not None else None,
        "leds": (view or {}).get("leds"),  # the board's verdict and its counters (docs/leds.md)
        # `[remote]`: commands received, done, refused (per reason); None when off or stopped
        "remote": view.get("remote") if view is not None else None,
    }


def _running_devices(entries: object) -> dict[str, dict[str, Any]]:
    """The live view's device entries by id; an entry that is not a device state (a file
    another process wrote, maybe truncated or tampered with) is left out, with a warning, and
    the device shown from the database instead."""
    running: dict[str, dict[str, Any]] = {}
    for entry in entries if isinstance(entries, list) else []:
        try:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("device"), str):
                raise ValueError("device: expected a device id")
            DeviceState.from_dict(entry)
        except ValueError as exc:
            log.warning("live view: device entry %.80r ignored (%s)", entry, exc)
            continue
        running[entry["device"]] = dict(entry)
    return running


def _ack_of(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {k: row[k] for k in ("id", "acked_at", "acked_by")}


def _stored_health(db) -> dict[str, Any]:
    """The newest stored health reading per component."""
    return queries.latest_health(db)


_SEVERITY = [Liveness.OK.value, Liveness.STALE.value, Liveness.OFFLINE.value]


def _aged_state(device: dict[str, Any], config: Config, now: float) -> str:
    """The stored state, made worse by the age of the last good read.

    The daemon writes state on transitions; if it is stopped (or hung) the stored `ok` would
    otherwise stay forever. Stale data must never look live, so the age decides too.
    """
    stored = device.get("state") or Liveness.OFFLINE.value
    cfg = next((d for d in config.devices if d.id == device["device"]), None)
    if cfg is None or not device.get("last_seen"):
        return stored
    aged = state(device["last_seen"], now, cfg.stale_after, cfg.offline_after).value
    return max(stored, aged, key=lambda s: _SEVERITY.index(s) if s in _SEVERITY else 2)


def render_json(status: dict[str, Any] | None, config: Config) -> str:
    if status is None:
        status = {"site": {"id": config.site.id}, "database": config.storage.path, "devices": []}
    return json.dumps(status, indent=2, ensure_ascii=False, default=str)


def render_text(
    status: dict[str, Any] | None, config: Config, lang: str, details: bool = False
) -> str:
    """The staff view (a verdict first, ~10 lines), or with `details` the technician's."""
    if status is None:
        return t("no_db", lang, path=config.storage.path) + "\n"
    if not details:
        return staff_view.render(status, config, lang)
    return _details(status, config, lang)


def _details(status: dict[str, Any], config: Config, lang: str) -> str:
    name = config.site.name or config.site.id
    running = status.get("daemon") == "running"
    lines = [f"{t('title', lang)} — {name} ({config.site.id})"]
    if running:
        lines.append(t("daemon_running", lang))
        lines.append(t("mqtt_" + ("up" if status.get("mqtt_connected") else "down"), lang))
    else:
        lines.append(t("daemon_stopped", lang))
    lines += [f"{t('outbox', lang)}{tr(':', lang)} {status['outbox']} {t('records', lang)}", ""]
    lines[-1:-1] = _alarm_lines(status.get("alarms") or [], status["now"], lang)
    if not status["devices"]:
        lines.append(t("no_devices", lang))
    names = {d.id: d.display_name for d in config.devices}
    for device in status["devices"]:
        lines.extend(_device_lines(device, names, status["now"], lang, running))
        lines.append("")
    lines.extend(status_equipment.lines(status.get("health") or {}, config, status["now"], lang))
    if config.jobs:
        lines.append("")
        lines.extend(schedule_view.lines(status.get("power") or stored_power(config), lang))
    return "\n".join(lines).rstrip() + "\n"


def _alarm_lines(alarms: list[dict[str, Any]], now: float, lang: str) -> list[str]:
    if not alarms:
        return [t("alarms_none", lang)]
    lines = [t("alarms_active", lang, n=len(alarms))]
    for alarm in alarms:
        text = alarm_line({"id": "", "acked_at": None, **alarm, "active": True}, lang, now)
        lines.append("  " + text.removeprefix("# "))
    return lines


def _device_lines(
    device: dict[str, Any], names: dict[str, str], now: float, lang: str, running: bool
) -> list[str]:
    info = device.get("info") or {}
    ident = ", ".join(
        part
        for part in (
            info.get("product", ""),
            f"{t('serial', lang)} {info['serial']}" if info.get("serial") else "",
            f"{t('firmware', lang)} {info['firmware']}" if info.get("firmware") else "",
        )
        if part
    )
    state = device.get("state") or "offline"
    if not running and state == "ok":
        state = "last_known"  # nobody reads it now: never "online" while the daemon is stopped
    last_seen = device.get("last_seen")
    seen = t("seen_ago", lang, ago=i18n.duration(now - last_seen, lang)) if last_seen else None
    dev_id = device["device"]
    label = names.get(dev_id, dev_id)
    head = f"{label} [{dev_id}]" if label != dev_id else dev_id
    head += f" ({ident})" if ident else ""
    state_text = tr(STATES[state], lang) if state in STATES else state
    head += f"{tr(':', lang)} {state_text} — {seen or t('never_seen', lang)}"
    lines = [head]
    latest = device.get("latest") or {}
    if latest and not latest.get("clock_synced", True):
        lines.append(f"  {t('clock_unsynced', lang)}")
    for metric, value in sorted((latest.get("metrics") or {}).items()):
        lines.append(f"  {i18n.metric_label(metric, lang):<28} {value_text(metric, value, lang)}")
    counters = device.get("counters") or {}
    if counters:
        ok, bad = counters.get("accepted", 0), counters.get("rejected", 0)
        lines.append(f"  {t('frames', lang, ok=ok, bad=bad)}")
    return lines


STATES = {
    "ok": N_("ONLINE"),
    "stale": N_("STALE"),
    "offline": N_("OFFLINE"),
    "last_known": N_("last known values"),
}


def value_text(metric: str, value: Any, lang: str) -> str:
    """A metric's value with its unit, in the language's number format."""
    if isinstance(value, str):
        return i18n.text_value(metric, value, lang)
    unit = CATALOGUE[metric].unit if metric in CATALOGUE else ""
    if unit == "0/1":
        return i18n.yes_no(value, lang)
    if metric == "battery_time_to_go" and isinstance(value, int | float):
        return i18n.duration(value * 60, lang)
    unit = "" if unit in ("text", "int", "count", "0/1") else f" {unit}"
    return f"{i18n.number(value, lang)}{unit}"
