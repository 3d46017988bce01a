"""`[shedding]`: what the PiBox does on a critical battery, its frozen settings and their checks
(docs/configuration.md; the rule that picks the level: docs/power-policy.md).

Every problem with its key path, unknown keys are errors. The levels are judged against each
other here, with key paths, whatever else is wrong in the table; the pure `SheddingThresholds`
then checks its own consistency and its ValueError becomes a problem at `shedding`. Voltages
are placed at the nominal voltage of the bank `[power]` reads (`edged.config.power.at_nominal`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edged.config.checks import expect, kind, not_negative, percent, positive, strings
from edged.config.power import at_nominal, implied_nominal
from maintenance.energy.problems import Inconsistent
from maintenance.energy.shedding import SheddingThresholds, Threshold, lead_acid_volts, volts_for

UNIT = re.compile(r"^[A-Za-z0-9:_.@\\-]+$")
LEVELS = {"warn": "warn", "stop": "stop_services", "shutdown": "shutdown"}  # key prefix: level
LEVEL_KEYS = ("soc", "recover_soc", "voltage", "recover_voltage")
COMMANDS = ("stop_command", "start_command", "shutdown_command")
SHED_KEYS = (
    "enabled",
    "services",
    *COMMANDS,
    "command_timeout",
    "protection_voltage",
    "protection_margin",
    *(f"{p}_{k}" for p in LEVELS for k in LEVEL_KEYS),
)


@dataclass(frozen=True, slots=True)
class SheddingConfig:
    """`[shedding]`: what the PiBox does on a critical battery. `policy` is the pure
    rule's `SheddingThresholds` built from the thresholds (None: its defaults)."""

    policy: SheddingThresholds | None = None
    enabled: bool = True
    services: tuple[str, ...] = ()
    """systemd units stopped at `stop_services` (in order; started again in reverse order)."""
    stop_command: tuple[str, ...] = ("systemctl", "stop", "{service}")
    start_command: tuple[str, ...] = ("systemctl", "start", "{service}")
    shutdown_command: tuple[str, ...] = ("systemctl", "poweroff")
    command_timeout: float = 120.0


def shedding(v: Any, raw: Mapping[str, Any], nominal: int | None) -> SheddingConfig:
    """Absent: no load shedding. Present (even empty): the pure defaults, as overridden."""
    if "shedding" not in raw:
        return SheddingConfig()
    table = raw["shedding"]
    if not isinstance(table, Mapping):
        v.add("shedding", f"expected a table, got {kind(table)}")
        return SheddingConfig()
    start = len(v.problems)
    v.unknown(table, "shedding.", SHED_KEYS)
    enabled = v.value(table, "enabled", bool, "shedding", True)
    services = strings(v, table, "services", "shedding", _units)
    commands = {
        key: strings(
            v, table, key, "shedding", _not_empty if key == "shutdown_command" else _has_service
        )
        for key in COMMANDS
    }
    timeout = v.value(table, "command_timeout", float, "shedding", 120.0, check=positive)
    policy = _shed_policy(v, table, nominal)
    if len(v.problems) > start:
        return SheddingConfig()
    given = {key: val for key, val in commands.items() if val is not None}
    return SheddingConfig(policy, enabled, services or (), **given, command_timeout=float(timeout))


def _shed_policy(
    v: Any, table: Mapping[str, Any], nominal: int | None
) -> SheddingThresholds | None:
    start = len(v.problems)
    levels: dict[str, Threshold | None] = {}
    given: dict[str, dict] = {}
    for prefix, level in LEVELS.items():
        before = len(v.problems)
        written = {
            k: v.value(
                table,
                f"{prefix}_{k}",
                float,
                "shedding",
                check=percent if k.endswith("soc") else positive,
            )
            for k in LEVEL_KEYS
        }
        if len(v.problems) == before:  # else its defaults would be judged against a typo
            levels[level] = _threshold(v, prefix, getattr(_SHED_DEFAULTS, level), written, nominal)
            given[prefix] = written
    _level_order(v, levels, given)
    extra: dict[str, dict[int, float]] = {}
    cut = v.value(table, "protection_voltage", float, "shedding", check=positive)
    margin = v.value(table, "protection_margin", float, "shedding", check=not_negative)
    at = nominal or (implied_nominal(cut) if cut is not None else 12)
    if cut is not None:
        extra["protection_voltage"] = {at: float(cut)}
    if margin is not None:
        extra["protection_margin_v"] = {at: float(margin)}
    _above_cut_off(v, levels.get("shutdown"), extra.get("protection_voltage"), given)
    if len(v.problems) > start:
        return None
    try:
        return SheddingThresholds(**levels, **extra)
    except Inconsistent as exc:
        for problem in exc.problems:  # one by one: each is translated apart
            v.add("shedding", problem)
        return None
    except ValueError as exc:
        v.add("shedding", str(exc))
        return None


def _level_order(v: Any, levels: dict[str, Threshold | None], given: dict[str, dict]) -> None:
    """Each level is entered below the one before it (warn, then stop_services, then shutdown),
    by SOC and by voltage: a stop_soc above warn_soc would stop the clinic's services before
    anyone was warned. Judged here, with key paths, whatever else is wrong in the file (the
    pure SheddingThresholds only sees a table that has no other problem)."""
    order = [(p, levels[lv]) for p, lv in LEVELS.items() if levels.get(lv) is not None]
    for (up, upper), (low, lower) in zip(order, order[1:], strict=False):
        n = min(lower.voltage)  # the nominal voltage the lower level's value is written at
        for key, high, value in (
            ("soc", upper.soc, lower.soc),
            ("voltage", volts_for(upper.voltage, n), lower.voltage[n]),
        ):
            mine, theirs = given[low][key], given[up][key]
            if value < high or key == "voltage" and mine is None and theirs is None:
                continue  # default voltages follow the SOCs: their problem is said once
            if mine is not None or theirs is None:
                v.add(
                    f"shedding.{low}_{key}", f"expected below {up}_{key} ({high:g}), got {value:g}"
                )
            else:
                v.add(
                    f"shedding.{up}_{key}", f"expected above {low}_{key} ({value:g}), got {high:g}"
                )


def _above_cut_off(v: Any, shutdown: Threshold | None, cut: dict | None, given: dict) -> None:
    """The shutdown level must come before the battery's own cut-off, else the box dies before
    it halts cleanly. Said with its key path beside any other problem of the table."""
    if shutdown is None:
        return
    n = min(shutdown.voltage)
    volts, limit = shutdown.voltage[n], volts_for(cut or _SHED_DEFAULTS.protection_voltage, n)
    if volts <= limit:
        key = "voltage" if given["shutdown"]["voltage"] is not None else "soc"
        v.add(
            f"shedding.shutdown_{key}",
            f"expected a shutdown voltage above protection_voltage ({limit:g} V), got {volts:g} V",
        )


def _threshold(
    v: Any, prefix: str, base: Threshold | None, written: dict, nominal: int | None
) -> Threshold | None:
    """The level's Threshold: written values over the defaults. The shutdown level has none:
    it exists only with shutdown_soc; its recovery defaults to 10 points higher and its
    voltages to the flooded lead-acid rested voltages at those SOCs."""
    soc, recover, at = written["soc"], written["recover_soc"], f"shedding.{prefix}_"
    if base is None:
        if soc is None:
            for key in (k for k in LEVEL_KEYS[1:] if written[k] is not None):
                v.add(at + key, f"expected only with {prefix}_soc")
            return None
        back = min(float(soc) + 10.0, 100.0) if recover is None else float(recover)
        base = Threshold(float(soc), back, lead_acid_volts(soc), lead_acid_volts(back))
    soc = base.soc if soc is None else float(soc)
    recover = base.recover_soc if recover is None else float(recover)
    if recover <= soc and written["recover_soc"] is not None:
        v.add(at + "recover_soc", f"expected above {prefix}_soc ({soc:g}), got {recover:g}")
    elif recover <= soc and written["soc"] is not None:
        v.add(at + "soc", f"expected below {prefix}_recover_soc ({recover:g}), got {soc:g}")
    volts, back_volts = written["voltage"], written["recover_voltage"]
    if volts is not None and back_volts is not None and back_volts <= volts:
        v.add(
            at + "recover_voltage",
            f"expected above {prefix}_voltage ({volts:g}), got {back_volts:g}",
        )
    return Threshold(
        soc,
        recover,
        base.voltage if volts is None else at_nominal(volts, nominal),
        base.recover_voltage if back_volts is None else at_nominal(back_volts, nominal),
    )


_units = expect(lambda x: all(UNIT.match(s) for s in x), "expected systemd unit names")
_has_service = expect(
    lambda x: any("{service}" in s for s in x), 'expected "{service}" in an element'
)
_not_empty = expect(bool, "expected a non-empty array (argv, no shell)")
_SHED_DEFAULTS = SheddingThresholds()
