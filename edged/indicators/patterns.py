"""From what the daemon knows to what the LEDs show: pure, no I/O, no clock, no thread.

A nurse learns a handful of patterns from a printed card (docs/fr/voyants.md), so the facts the
alarms use (active alarms, the load-shedding level, running jobs) are folded into one of a few
conditions, worst wins, and each condition has one pattern of the three LEDs and the buzzer.
Device states reach the LEDs through their alarm (`device_offline`, raised after 5 minutes), not
directly: a cable nudged back in place turns nothing red, and a site that disabled the alarm for
a device it knows is gone does not get a board red for ever. Whether the daemon runs at all
("stopped") is not a fact it can report about itself: edged.indicators.service decides it from
the main loop's refreshes, and `edged leds show stopped` sets it after the daemon exited.

There is one blink rate (0.5 s on, 0.5 s off: the kernel `timer` trigger's own default, so it
holds even where its delays cannot be written) and one beep; steady versus blinking, and which
colour, is all a nurse has to tell apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from maintenance.energy.policy import JobKind
from maintenance.energy.shedding import Level


class Condition(IntEnum):
    """What the board says, in increasing order of urgency (worst wins)."""

    ALL_WELL = 0
    SAVING_ENERGY = 1
    """Load shedding at `warn`, or a battery low: switch off what is not essential."""
    JOB_RUNNING = 2
    """A backup or a sync writes to the USB disk or the network: do not unplug."""
    TECHNICIAN = 3
    """A device offline, a fault, a server down, the disk full: call the technician."""
    CRITICAL = 4
    """The battery is about to cut, services are stopped, a shutdown is coming: act now."""
    STOPPED = 5
    """The daemon does not run or its loop hangs: nothing is being watched."""


class Light(Enum):
    OFF = "off"
    ON = "on"
    BLINK = "blink"
    BEEP = "beep"


BLINK_MS = {Light.BLINK: (500, 500), Light.BEEP: (200, 1800)}
"""(on, off) milliseconds of the lights that change by themselves."""
OUTPUTS = ("green", "amber", "red", "buzzer")


@dataclass(frozen=True, slots=True)
class Pattern:
    green: Light = Light.OFF
    amber: Light = Light.OFF
    red: Light = Light.OFF
    buzzer: Light = Light.OFF

    def light(self, output: str) -> Light:
        return getattr(self, output)


PATTERNS: dict[Condition, Pattern] = {
    Condition.ALL_WELL: Pattern(green=Light.ON),
    Condition.SAVING_ENERGY: Pattern(amber=Light.ON),
    Condition.JOB_RUNNING: Pattern(amber=Light.BLINK),
    Condition.TECHNICIAN: Pattern(red=Light.ON),
    Condition.CRITICAL: Pattern(red=Light.BLINK),
    Condition.STOPPED: Pattern(),
}
"""The printed card (docs/leds.md, docs/fr/voyants.md); a test keeps them in step."""
LAMP_TEST = Pattern(green=Light.ON, amber=Light.ON, red=Light.ON)
"""Shown first when the verdict is replayed: every LED works (a dead LED is no "all well")."""

RULE_CONDITION: dict[str, Condition] = {
    "battery_soc_low": Condition.SAVING_ENERGY,
    "power_saving": Condition.SAVING_ENERGY,
    "battery_soc_critical": Condition.CRITICAL,
    "battery_over_temperature": Condition.CRITICAL,
    "power_services_stopped": Condition.CRITICAL,
    "charger_error": Condition.TECHNICIAN,
    "charger_fault": Condition.TECHNICIAN,
    "no_pv_daylight": Condition.TECHNICIAN,
    "device_offline": Condition.TECHNICIAN,
    "pibox_disk_full": Condition.TECHNICIAN,
    "pibox_undervoltage": Condition.TECHNICIAN,
    "openclinic_down": Condition.TECHNICIAN,
    "equipment_unseen": Condition.TECHNICIAN,
    "job_overdue": Condition.TECHNICIAN,
    "data_budget": Condition.TECHNICIAN,
    "storage_failed": Condition.TECHNICIAN,
    "database_recovered": Condition.TECHNICIAN,
}
"""The built-in alarm rules (maintenance.alarms.rules) by what staff can do about them. A site's
own rule is CRITICAL when its severity is critical (a vaccine fridge too warm is for now), else
TECHNICIAN."""
SHEDDING_CONDITION = {
    Level.NORMAL: Condition.ALL_WELL,
    Level.WARN: Condition.SAVING_ENERGY,
    Level.STOP_SERVICES: Condition.CRITICAL,
    Level.SHUTDOWN: Condition.CRITICAL,
}
DO_NOT_UNPLUG = frozenset({JobKind.BACKUP, JobKind.SYNC})
"""Jobs writing to the USB disk or the uplink; the monthly report only computes."""


@dataclass(frozen=True, slots=True)
class ActiveAlarm:
    alarm_id: str
    rule: str
    severity: str


@dataclass(frozen=True, slots=True)
class Facts:
    alarms: tuple[ActiveAlarm, ...] = ()
    shedding: Level = Level.NORMAL
    jobs_running: tuple[JobKind, ...] = ()
    acknowledged: frozenset[str] = frozenset()
    """Alarm ids acknowledged on site (button or `edged alarms ack`): they silence the buzzer."""


def alarm_condition(alarm: ActiveAlarm) -> Condition:
    known = RULE_CONDITION.get(alarm.rule)
    if known is not None:
        return known
    return Condition.CRITICAL if alarm.severity == "critical" else Condition.TECHNICIAN


def conditions(facts: Facts) -> list[Condition]:
    """Every condition that holds, worst first; [ALL_WELL] when none does."""
    found = {alarm_condition(a) for a in facts.alarms}
    found.add(SHEDDING_CONDITION[facts.shedding])
    if any(kind in DO_NOT_UNPLUG for kind in facts.jobs_running):
        found.add(Condition.JOB_RUNNING)
    found.discard(Condition.ALL_WELL)
    return sorted(found, reverse=True) or [Condition.ALL_WELL]


def verdict(facts: Facts) -> Condition:
    """The worst condition: the one the board shows."""
    return conditions(facts)[0]


def pattern(facts: Facts) -> Pattern:
    """What the board shows for these facts: the worst condition's pattern, and the buzzer
    while a critical alarm waits for someone on site to acknowledge it."""
    shown = PATTERNS[verdict(facts)]
    if any(
        alarm_condition(a) is Condition.CRITICAL and a.alarm_id not in facts.acknowledged
        for a in facts.alarms
    ):
        return Pattern(shown.green, shown.amber, shown.red, Light.BEEP)
    return shown
