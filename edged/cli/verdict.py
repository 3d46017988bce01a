"""The verdict of `edged status`: one word for the site, what is wrong, what to do, whom to call.

Pure: takes the status data (`edged.cli.status.collect`) and the config; decides from the same
facts the alarms and the power policy use (daemon alive, load shedding, active alarms, device
states, the link, running jobs), worst first:

    stopped > critical > technician > busy > saving > ok

A nurse reads the first line and knows whether all is well; the lines under it say what to do
("économiser l'énergie : éteindre …", "ne pas débrancher : sauvegarde en cours") and whom to
call (`[site] contact`). Nothing here reads a file or a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from edged.cli.i18n import N_, duration, tr, when
from edged.config.settings import Config


class Level(IntEnum):
    """Worst wins; the same five situations the status LEDs show, and `stopped`."""

    OK = 0
    SAVING = 1
    BUSY = 2
    TECHNICIAN = 3
    CRITICAL = 4
    STOPPED = 5


HEADLINES = {
    Level.OK: N_("ALL IS WELL"),
    Level.SAVING: N_("SAVE ENERGY"),
    Level.BUSY: N_("DO NOT UNPLUG"),
    Level.TECHNICIAN: N_("CALL THE TECHNICIAN"),
    Level.CRITICAL: N_("CRITICAL: POWER ABOUT TO CUT"),
    Level.STOPPED: N_("MONITORING STOPPED"),
}
CRITICAL_RULES = ("battery_soc_critical", "power_services_stopped")
"""Alarms that mean the power is about to cut (the rest that need a hand: a technician)."""
SAVING_RULES = ("battery_soc_low", "power_saving", "no_pv_daylight")
"""Alarms that the staff answer themselves, by saving energy."""
JOB_KINDS = {"backup": N_("backup"), "sync": N_("sending data"), "report": N_("monthly report")}


@dataclass
class Verdict:
    level: Level = Level.OK
    problems: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)

    def raise_to(self, level: Level) -> None:
        self.level = max(self.level, level)


def decide(status: dict[str, Any], config: Config, lang: str) -> Verdict:
    """The verdict with its problems and actions in `lang`, worst first."""
    v = Verdict()
    now = status["now"]
    if status.get("daemon") != "running":
        v.raise_to(Level.STOPPED)
        since = status.get("stopped_since")
        v.problems.append(
            tr(
                "Monitoring has been stopped since {when} ({ago} ago).",
                lang,
                when=when(since, lang),
                ago=duration(now - since, lang),
            )
            if since
            else tr("Monitoring is stopped: nothing is watched.", lang)
        )
        v.actions.append(tr("restart the PiBox (unplug, wait 10 s, plug back in)", lang))
    shed = (status.get("power") or {}).get("shedding") or {}
    level = shed.get("level") or "normal"
    if level == "shutdown":
        v.raise_to(Level.CRITICAL)
        v.problems.append(tr("The battery is almost empty: the PiBox will shut down.", lang))
    elif level in ("warn", "stop_services"):
        v.raise_to(Level.SAVING)
        v.problems.append(tr("The battery is low: the PiBox saves energy.", lang))
    if level != "normal":
        v.actions.append(
            tr(
                "save energy: switch off what is not needed for care (fans, TV, phone chargers)",
                lang,
            )
        )
    _alarms(v, status.get("alarms") or [], lang)
    _devices(v, status, config, lang)
    if status.get("daemon") == "running" and not status.get("mqtt_connected"):
        v.raise_to(Level.TECHNICIAN)
        v.problems.append(
            tr("No link to the ANTIM server: data waits on the PiBox, nothing is lost.", lang)
        )
        v.actions.append(tr("check the 3G modem is on and has credit", lang))
    for job in (status.get("power") or {}).get("jobs") or []:
        if job.get("state") == "running":
            v.raise_to(Level.BUSY)
            kind = tr(JOB_KINDS.get(job.get("kind", ""), N_("backup")), lang)
            progress = job.get("progress")
            done = f" ({progress:.0f} %)" if isinstance(progress, int | float) else ""
            v.actions.insert(
                0, tr("do not unplug: {what} in progress{done}", lang, what=kind, done=done)
            )
    return v


def _alarms(v: Verdict, alarms: list[dict[str, Any]], lang: str) -> None:
    for alarm in alarms:
        rule = alarm.get("rule") or alarm.get("alarm_id", "").split(":", 1)[0]
        if rule in CRITICAL_RULES:
            v.raise_to(Level.CRITICAL)
        elif rule in SAVING_RULES:
            v.raise_to(Level.SAVING)
        elif rule != "device_offline":  # said by `_devices`, with the device's name
            v.raise_to(Level.TECHNICIAN)


def _devices(v: Verdict, status: dict[str, Any], config: Config, lang: str) -> None:
    if status.get("daemon") != "running":
        return  # their states are what was last seen, not now: the stop is the problem
    names = {d.id: d.display_name for d in config.devices}
    for device in status.get("devices") or []:
        state = device.get("state") or "offline"
        if state == "ok":
            continue
        v.raise_to(Level.TECHNICIAN)
        name = names.get(device["device"], device["device"])
        seen = device.get("last_seen")
        if seen:
            ago = duration(status["now"] - seen, lang)
            v.problems.append(
                tr("{name} does not answer (last seen {ago} ago).", lang, name=name, ago=ago)
            )
        else:
            v.problems.append(tr("{name} has never answered.", lang, name=name))
    if any((d.get("state") or "offline") != "ok" for d in status.get("devices") or []):
        v.actions.append(tr("check that the cables of the solar equipment are plugged in", lang))
