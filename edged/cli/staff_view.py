"""`edged status` for clinic staff: the verdict first, then at most ~10 lines.

Pure: status data (`edged.cli.status.collect`) and config in, text out. Devices by their
`name` from the config, the battery as one figure, alarms with the number `edged alarms ack`
takes, whom to call. Everything a technician needs is in `edged status --details`.
"""

from __future__ import annotations

from typing import Any

from edged.cli import i18n
from edged.cli.i18n import N_, tr
from edged.cli.verdict import HEADLINES, Level, Verdict, decide
from edged.config.settings import Config

MAX_PROBLEMS = 3
MAX_ALARMS = 3
LABELS = {
    "battery": N_("Battery"),
    "todo": N_("To do"),
    "call": N_("Call"),
    "devices": N_("Devices"),
    "working": N_("working"),
    "down": N_("not answering"),
    "never": N_("never seen"),
}


def _label(key: str, lang: str) -> str:
    return tr(LABELS[key], lang)


def render(status: dict[str, Any], config: Config, lang: str) -> str:
    verdict = decide(status, config, lang)
    colon = tr(":", lang)
    site = config.site.name or config.site.id
    lines = [f"{tr(HEADLINES[verdict.level], lang)} — {site}"]
    lines += verdict.problems[:MAX_PROBLEMS]
    battery = _battery(status, config, lang)
    if battery:
        lines.append(f"{_label('battery', lang)}{colon} {battery}")
    if verdict.actions:
        todo = "; ".join(dict.fromkeys(verdict.actions))
        lines.append(f"{_label('todo', lang)}{colon} {todo}")
    lines += _alarms(status.get("alarms") or [], status["now"], lang)
    lines.append(_devices(status, config, lang))
    if verdict.level >= Level.TECHNICIAN and config.site.contact:
        lines.append(f"{_label('call', lang)}{colon} {config.site.contact}")
    elif verdict.level >= Level.TECHNICIAN:
        lines.append(tr("Call the ANTIM technician (no contact in the configuration).", lang))
    lines.append(tr("Details for the technician: edged status --details", lang))
    return "\n".join(lines) + "\n"


def _battery(status: dict[str, Any], config: Config, lang: str) -> str:
    """One charge figure (the first bank's, else the first device that reports one) and the
    time it lasts, in hours rather than minutes; with the daemon stopped, the last figure
    alone: "charging" or a time left would be a claim about now that nobody checks."""
    banks = [b.id for b in config.batteries]
    devices = sorted(
        (d for d in status.get("devices") or [] if _metric(d, "battery_soc") is not None),
        key=lambda d: (d["device"] not in banks, d["device"]),
    )
    if not devices:
        return ""
    device = devices[0]
    text = f"{i18n.number(round(float(_metric(device, 'battery_soc'))), lang)} %"
    if status.get("daemon") != "running":
        return text
    current = _metric(device, "battery_current")
    ttg = _metric(device, "battery_time_to_go")
    if isinstance(current, int | float) and current > 0.1:
        text += ", " + tr("charging", lang)
    elif isinstance(ttg, int | float) and ttg > 0:
        text += ", " + tr("lasts about {time}", lang, time=i18n.duration(ttg * 60, lang))
    return text


def _metric(device: dict[str, Any], name: str) -> Any:
    return ((device.get("latest") or {}).get("metrics") or {}).get(name)


def _alarms(alarms: list[dict[str, Any]], now: float, lang: str) -> list[str]:
    """`Alarme #12 : Batterie faible … — acquitter : edged alarms ack 12`; the row number when
    stored (within a second of the alarm), else its name, which `alarms ack` takes as well."""
    out = []
    for alarm in alarms[:MAX_ALARMS]:
        ref = str(alarm.get("id") or alarm.get("alarm_id"))
        message = alarm.get("message" if lang == "fr" else "message_en") or alarm.get("alarm_id")
        if alarm.get("acked_at"):
            ack = tr("acknowledged by {by}", lang, by=alarm.get("acked_by") or "?")
        else:
            ack = tr("to acknowledge: edged alarms ack {ref}", lang, ref=ref)
        out.append(tr("Alarm #{ref}: {message} — {ack}", lang, ref=ref, message=message, ack=ack))
    if len(alarms) > MAX_ALARMS:
        out.append(
            i18n.ntr(
                "… and {n} more alarm: edged alarms",
                "… and {n} more alarms: edged alarms",
                len(alarms) - MAX_ALARMS,
                lang,
            )
        )
    return out


def _devices(status: dict[str, Any], config: Config, lang: str) -> str:
    """The devices by their names: working, or which do not answer; never "working" while
    nobody watches them (daemon stopped)."""
    names = {d.id: d.display_name for d in config.devices}
    shown = [d for d in status.get("devices") or [] if d["device"] in names] or (
        status.get("devices") or []
    )
    colon = tr(":", lang)
    if not shown:
        return tr("No device seen yet.", lang)
    label = ", ".join(names.get(d["device"], d["device"]) for d in shown)
    if status.get("daemon") != "running":
        seen = [d["last_seen"] for d in shown if d.get("last_seen")]
        last = tr("last values of {when}", lang, when=i18n.when(max(seen), lang)) if seen else ""
        return f"{_label('devices', lang)}{colon} {label} — {last or _label('never', lang)}"
    down = [names.get(d["device"], d["device"]) for d in shown if d.get("state") != "ok"]
    if not down:
        return f"{_label('devices', lang)}{colon} {label} — {_label('working', lang)}"
    return f"{_label('devices', lang)}{colon} {_label('down', lang)}{colon} {', '.join(down)}"


__all__ = ["render", "Verdict"]
