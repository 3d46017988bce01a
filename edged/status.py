"""`edged status`: what the daemon last saw, read from the database, for people or for scripts.

Reads through a read-only connection so it works beside a running daemon. Every value shown comes
with its age; a device that is not `ok` is said so first, in words a nurse can read.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from edged import i18n
from edged.i18n import t
from edged.metrics import CATALOGUE
from edged.settings import Config
from telemetry import status_view
from telemetry.store import open_db


def collect(config: Config) -> dict[str, Any] | None:
    """The status as plain data (the `--json` output); None when there is no database yet."""
    if not Path(config.storage.path).exists():
        return None
    db = open_db(config.storage.path, readonly=True)
    try:
        devices = status_view.device_overview(db)
        outbox = status_view.outbox_size(db)
    finally:
        db.conn.close()
    return {
        "site": {"id": config.site.id, "name": config.site.name},
        "database": config.storage.path,
        "now": time.time(),
        "outbox": outbox,
        "devices": devices,
    }


def render_json(status: dict[str, Any] | None, config: Config) -> str:
    if status is None:
        status = {"site": {"id": config.site.id}, "database": config.storage.path, "devices": []}
    return json.dumps(status, indent=2, ensure_ascii=False, default=str)


def render_text(status: dict[str, Any] | None, config: Config, lang: str) -> str:
    if status is None:
        return t("no_db", lang, path=config.storage.path)
    name = config.site.name or config.site.id
    lines = [
        f"{t('title', lang)} — {name} ({config.site.id})",
        f"{t('outbox', lang)} : {status['outbox']} {t('records', lang)}",
        "",
    ]
    if not status["devices"]:
        lines.append(t("no_devices", lang))
    for device in status["devices"]:
        lines.extend(_device_lines(device, status["now"], lang))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _device_lines(device: dict[str, Any], now: float, lang: str) -> list[str]:
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
    for metric, value in (latest.get("metrics") or {}).items():
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
    unit = "" if unit in ("text", "int", "count", "0/1") else f" {unit}"
    return f"{i18n.number(value, lang)}{unit}"
