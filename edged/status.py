"""`edged status`: what the daemon last saw, read from the database, for people or for scripts.

Reads through a read-only connection so it works beside a running daemon. Every value shown comes
with its age; a device that is not `ok` is said so first, in words a nurse can read.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from edged import i18n, live
from edged.i18n import t
from edged.liveness import State, state
from edged.metrics import CATALOGUE
from edged.settings import Config
from telemetry import status_view
from telemetry.store import open_db


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
    finally:
        db.conn.close()
    now = time.time()
    view = next(filter(None, (live.read(p, now) for p in live.candidates(config))), None)
    if view is not None:
        running = {d["device"]: d for d in view.get("devices", [])}
        devices = [running.get(d["device"], d) for d in devices]
        devices += [d for name, d in running.items() if name not in {x["device"] for x in devices}]
    else:
        for device in devices:
            device["state"] = _aged_state(device, config, now)
    return {
        "site": {"id": config.site.id, "name": config.site.name},
        "database": config.storage.path,
        "now": now,
        "daemon": "running" if view is not None else "stopped",
        "mqtt_connected": bool(view and view.get("mqtt_connected")),
        "outbox": outbox,
        "devices": sorted(devices, key=lambda d: d["device"]),
    }


_SEVERITY = [State.OK.value, State.STALE.value, State.OFFLINE.value]


def _aged_state(device: dict[str, Any], config: Config, now: float) -> str:
    """The stored state, made worse by the age of the last good read.

    The daemon writes state on transitions; if it is stopped (or hung) the stored `ok` would
    otherwise stay forever. Stale data must never look live, so the age decides too.
    """
    stored = device.get("state") or State.OFFLINE.value
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
    if status is None:
        return t("no_db", lang, path=config.storage.path)
    name = config.site.name or config.site.id
    lines = [
        f"{t('title', lang)} — {name} ({config.site.id})",
        t("daemon_" + status.get("daemon", "stopped"), lang),
        f"{t('outbox', lang)} : {status['outbox']} {t('records', lang)}",
        "",
    ]
    if status.get("daemon") == "running":
        lines.insert(2, t("mqtt_" + ("up" if status.get("mqtt_connected") else "down"), lang))
    if not status["devices"]:
        lines.append(t("no_devices", lang))
    for device in status["devices"]:
        lines.extend(_device_lines(device, status["now"], lang, details))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# What a nurse needs at a glance, in this order; everything else with --details.
HEADLINE = (
    "battery_soc",
    "battery_voltage",
    "battery_current",
    "battery_power",
    "battery_time_to_go",
    "battery_temperature",
    "pv_power",
    "charger_state",
    "charger_error_name",
    "yield_today",
    "load_on",
    "alarm_reason",
)


def _shown_metrics(metrics: dict[str, Any], details: bool) -> list[tuple[str, Any]]:
    if details:
        return sorted(metrics.items())
    return [(name, metrics[name]) for name in HEADLINE if name in metrics]


def _device_lines(device: dict[str, Any], now: float, lang: str, details: bool) -> list[str]:
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
    last_seen = device.get("last_seen")
    seen = t("seen_ago", lang, ago=i18n.duration(now - last_seen, lang)) if last_seen else None
    head = f"{t('device', lang)} {device['device']}"
    head += f" ({ident})" if ident else ""
    head += f" : {t('state.' + state, lang)} — {seen or t('never_seen', lang)}"
    lines = [head]
    latest = device.get("latest") or {}
    if latest and not latest.get("clock_synced", True):
        lines.append(f"  {t('clock_unsynced', lang)}")
    for metric, value in _shown_metrics(latest.get("metrics") or {}, details):
        lines.append(f"  {i18n.metric_label(metric, lang):<28} {_value(metric, value, lang)}")
    counters = device.get("counters") or {}
    if counters:
        ok, bad = counters.get("accepted", 0), counters.get("rejected", 0)
        lines.append(f"  {t('frames', lang, ok=ok, bad=bad)}")
    return lines


def _value(metric: str, value: Any, lang: str) -> str:
    if isinstance(value, str):
        return i18n.text_value(metric, value, lang)
    unit = CATALOGUE[metric].unit if metric in CATALOGUE else ""
    if unit == "0/1":
        return i18n.yes_no(value, lang)
    unit = "" if unit in ("text", "int", "count", "0/1") else f" {unit}"
    return f"{i18n.number(value, lang)}{unit}"
