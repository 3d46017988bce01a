"""The equipment section of `edged status`: PiBox, services, glasses, link, one line each.

Reads the latest health readings (the daemon's live view, else the `health` table) in the shape
of `P/health/{component}` payloads. Worded for a nurse: what works, what does not, how old the
reading is; the numbers a technician wants are in `edged status --json`.
"""

from __future__ import annotations

from typing import Any

from edged.cli import i18n
from edged.cli.i18n import t
from edged.config.settings import Config


def lines(health: dict[str, dict[str, Any]], config: Config, now: float, lang: str) -> list[str]:
    if not health:
        return []
    checks = {c.name for c in config.health.checks}
    items = {e.item for e in config.health.equipment}
    out, colon = [t("equipment", lang)], i18n.tr(":", lang)
    for component in sorted(health, key=lambda c: (c != "pibox", c == "uplink", c)):
        reading = health[component]
        values = reading.get("values") or {}
        if component == "pibox":
            text = f"{t('pibox', lang)}{colon} {_pibox(values, lang)}"
        elif component == "uplink":
            text = _uplink(values, lang)
        elif component in items or "days_unseen" in values:
            text = f"{component}{colon} {_item(values, now, lang)}"
        else:  # a service check (configured or from an older config)
            status = values.get("status") or ("ok" if reading.get("ok") else "failed")
            known = component in checks or "status" in values
            text = f"{component}{colon} {t('check_' + status, lang) if known else status}"
        age = i18n.duration(now - float(reading.get("ts") or now), lang)
        out.append(f"  {text} {t('health_age', lang, ago=age)}")
    return out


def _pibox(values: dict[str, Any], lang: str) -> str:
    disk = values.get("disk_used_percent")
    temp = values.get("cpu_temperature")
    text = t(
        "pibox_line",
        lang,
        disk="?" if disk is None else i18n.number(round(disk), lang),
        temp="?" if temp is None else f"{i18n.number(round(temp, 1), lang)} °C",
    )
    if values.get("under_voltage_now") or values.get("under_voltage_alarm"):
        text += " — " + t("undervoltage_now", lang)
    elif values.get("under_voltage_occurred"):
        text += " — " + t("undervoltage_seen", lang)
    return text


def _item(values: dict[str, Any], now: float, lang: str) -> str:
    if values.get("seen"):
        return t("item_now", lang)
    last = values.get("last_seen")
    if last is None:
        return t("never_seen", lang)
    return t("item_seen", lang, ago=i18n.duration(now - float(last), lang))


def _uplink(values: dict[str, Any], lang: str) -> str:
    state = t("link_up" if values.get("connected") else "link_down", lang)
    used = _bytes(values.get("bytes_month"), lang)
    budget, percent = values.get("budget_bytes"), values.get("budget_used_percent")
    if budget:
        used += f" / {_bytes(budget, lang)} ({i18n.number(round(percent or 0), lang)} %)"
    return t("link_line", lang, state=state, used=used)


def _bytes(value: Any, lang: str) -> str:
    if not isinstance(value, int | float):
        return "?"
    units = ("o", "ko", "Mo", "Go") if lang == "fr" else ("B", "kB", "MB", "GB")
    size, unit = float(value), 0
    while size >= 1024 and unit < len(units) - 1:
        size, unit = size / 1024, unit + 1
    return f"{i18n.number(round(size, 1), lang)} {units[unit]}"
