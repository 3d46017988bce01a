"""The built-in alarms a technician wants on every site, as a table.

Each row is a `maintenance.alarms.Rule`. A site overrides any field of a row with `[alarms.<id>]`
(or disables it with `enabled = false`) and adds its own rules with `[[alarms.rules]]`;
edged.config.alarms validates both, maintenance.alarms.overrides applies them. docs/alarms.md
lists every row for users (a test keeps it in step with this table). Thresholds are in the
catalogue's units (%, °C, W, days).
"""

from __future__ import annotations

from maintenance.alarms.engine import Condition, Rule, Severity

A, B = Condition.ABOVE, Condition.BELOW
EQ, NE = Condition.EQUALS, Condition.NOT_EQUALS
W, C = Severity.WARNING, Severity.CRITICAL

BUILTIN: tuple[Rule, ...] = (
    Rule(
        "battery_soc_low",
        "*.battery_soc",
        B,
        30.0,
        W,
        clear=40.0,
        delay=300,
        clear_delay=300,
        message_fr="{device} : batterie faible ({value} %). Réduire la consommation.",
        message_en="{device}: battery low ({value} %). Reduce the load.",
    ),
    Rule(
        "battery_soc_critical",
        "*.battery_soc",
        B,
        15.0,
        C,
        clear=25.0,
        delay=60,
        clear_delay=300,
        message_fr="{device} : batterie presque vide ({value} %) ! Couper les appareils non"
        " essentiels.",
        message_en="{device}: battery nearly empty ({value} %)! Switch off non-essential loads.",
    ),
    Rule(
        "battery_over_temperature",
        "*.battery_temperature",
        A,
        45.0,
        C,
        clear=40.0,
        delay=120,
        clear_delay=300,
        message_fr="{device} : batterie trop chaude ({value} °C, seuil {threshold} °C).",
        message_en="{device}: battery too hot ({value} °C, limit {threshold} °C).",
    ),
    Rule(
        "charger_error",
        "*.charger_error",
        NE,
        0.0,
        W,
        delay=60,
        clear_delay=60,
        message_fr="{device} : le régulateur signale l'erreur {value}.",
        message_en="{device}: the charge controller reports error {value}.",
    ),
    Rule(
        "charger_fault",
        "*.charger_fault_flag",
        EQ,
        1.0,
        W,
        delay=600,
        clear_delay=60,
        message_fr="{device} : le régulateur signale un défaut et ne charge pas alors que les"
        " panneaux produisent.",
        message_en="{device}: the charge controller reports a fault and is not charging while"
        " the panels produce.",
    ),
    Rule(
        "no_pv_daylight",
        "*.pv_power",
        B,
        5.0,
        W,
        clear=20.0,
        delay=7200,
        clear_delay=600,
        requires_ok=True,
        message_fr="{device} : aucune production solaire en journée ({value} W). Panneaux"
        " sales, câble ou disjoncteur ?",
        message_en="{device}: no solar power in daylight ({value} W). Dirty panels, cable or"
        " breaker?",
    ),
    Rule(
        "device_offline",
        "*.state",
        EQ,
        "offline",
        W,
        delay=300,
        message_fr="{device} ne répond plus (câble, alimentation ?).",
        message_en="{device} is not answering (cable, power?).",
    ),
    Rule(
        "pibox_disk_full",
        "health.pibox.disk_used_percent",
        A,
        90.0,
        W,
        clear=85.0,
        message_fr="PiBox : disque presque plein ({value} %).",
        message_en="PiBox: disk nearly full ({value} %).",
    ),
    Rule(
        "pibox_undervoltage",
        "health.pibox.under_voltage_occurred",
        EQ,
        True,
        W,
        message_fr="PiBox : sous-tension détectée (alimentation 5 V trop faible).",
        message_en="PiBox: under-voltage detected (5 V supply too weak).",
    ),
    Rule(
        "openclinic_down",
        "health.openclinic*.status",
        EQ,
        "failed",
        C,
        delay=120,
        message_fr="{device} ne répond pas : OpenClinic est inaccessible.",
        message_en="{device} is not answering: OpenClinic is down.",
    ),
    Rule(
        "equipment_unseen",
        "health.*.days_unseen",
        A,
        3.0,
        W,
        message_fr="{device} n'a pas été vu depuis {value} jours.",
        message_en="{device} not seen for {value} days.",
    ),
    Rule(
        "power_saving",
        "health.power.shedding_level",
        A,
        0.5,
        W,
        message_fr="Batterie faible : économie d'énergie, les sauvegardes attendent.",
        message_en="Battery low: saving energy, backups are waiting.",
    ),
    Rule(
        "power_services_stopped",
        "health.power.shedding_level",
        A,
        1.5,
        C,
        message_fr="Batterie presque vide : services du PiBox arrêtés pour la protéger.",
        message_en="Battery nearly empty: PiBox services stopped to protect it.",
    ),
    Rule(
        "job_overdue",
        "health.job-*.overdue_h",
        A,
        0.0,
        W,
        message_fr="{device} : en retard de {value} h (batterie trop faible ou hors plage).",
        message_en="{device}: {value} h overdue (battery too low or outside its windows).",
    ),
    Rule(
        "data_budget",
        "health.uplink.budget_used_percent",
        A,
        90.0,
        W,
        clear=85.0,
        message_fr="Forfait internet presque épuisé ({value} % utilisés).",
        message_en="Data budget nearly spent ({value} % used).",
    ),
    Rule(
        "storage_failed",
        "health.store.failing",
        EQ,
        True,
        C,
        delay=30,
        message_fr="Carte SD : enregistrement impossible (disque plein ou en panne). Les"
        " mesures partent en direct seulement ; libérer de la place.",
        message_en="SD card: cannot store (disk full or failing). Readings go out live only;"
        " free some space.",
    ),
    Rule(
        "database_recovered",
        "health.store.damaged_copies",
        A,
        0.5,
        W,
        message_fr="Base de données endommagée : mise de côté (edged.db.damaged-*) et"
        " remplacée, une partie de l'historique peut manquer. Retirer la copie"
        " pour effacer l'alarme.",
        message_en="Database damaged: set aside (edged.db.damaged-*) and replaced, some"
        " history may be missing. Remove the copy to clear this alarm.",
    ),
)
BUILTIN_IDS = tuple(rule.id for rule in BUILTIN)
DAYLIGHT_RULES = frozenset({"no_pv_daylight"})
"""Rules evaluated only within `[alarms] daylight_hours`."""

OVERRIDABLE = (
    "enabled",
    "threshold",
    "clear",
    "delay",
    "clear_delay",
    "severity",
    "message_fr",
    "message_en",
)
DEFAULT_MESSAGE_FR = "{device} : {target} {condition} {threshold} (valeur {value})."
DEFAULT_MESSAGE_EN = "{device}: {target} {condition} {threshold} (value {value})."


def builtin(rule_id: str) -> Rule:
    return next(rule for rule in BUILTIN if rule.id == rule_id)
