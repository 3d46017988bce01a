"""What the battery says now, and the PiBox's load-shedding level that follows from it.

`EnergyState` and its readers (`measure`, `nominal_voltage`, voltage tables by nominal voltage)
are shared with the job policy (`maintenance.energy.policy`). `shedding_decision` moves the box
through normal -> warn -> stop_services -> shutdown as the battery falls, and back only above
higher recovery thresholds (hysteresis: a battery hovering on a threshold does not make the box
flap). A shutdown happens only when configured, only after the services were stopped (one call
earlier), and before the battery's own protection (controller load disconnect, BMS cut-off)
would cut the power mid-write: that voltage is checked even when an SOC is known, because an
estimated SOC drifts and the voltage at the bottom does not lie.

Pure: no clock, no I/O, no logging. Defaults and reasons: docs/power-policy.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from maintenance.energy.chemistry import Chemistry, interpolate, ocv_slope, profile
from maintenance.energy.problems import Inconsistent

VoltsByNominal = Mapping[int, float]
_FLOODED = profile(Chemistry.FLOODED)


def lead_acid_volts(soc: float) -> dict[int, float]:
    """Rested flooded lead-acid voltage at `soc` % for 12/24/48 V banks (the voltage defaults)."""
    cell_v = interpolate(_FLOODED.ocv, soc)
    return {n: round(cell_v * n / 2.0, 2) for n in (12, 24, 48)}


def soc_change_in_volts(delta_pct: float, nominal: int) -> float:
    """An SOC change as a rested-voltage change (flooded lead-acid slope at 50 %)."""
    return delta_pct * ocv_slope(_FLOODED, 50.0) * nominal / 2.0


@dataclass(frozen=True, slots=True)
class EnergyState:
    """The latest live energy readings; a stale value must be passed as None, never kept."""

    ts: float
    soc: float | None
    battery_voltage: float | None
    pv_power_w: float | None
    battery_current_a: float | None  # + = charging
    charger_state: str | None
    clock_synced: bool
    nominal_voltage: int | None = None  # None: inferred from battery_voltage (12/24/48 V)


def nominal_voltage(state: EnergyState) -> int:
    if state.nominal_voltage is not None:
        return state.nominal_voltage
    v = state.battery_voltage or 0.0
    return 12 if v < 18.0 else 24 if v < 36.0 else 48


def volts_for(table: VoltsByNominal, nominal: int) -> float:
    """The table's value for `nominal`, else its first entry scaled (12 V -> x2 for 24 V)."""
    if nominal in table:
        return table[nominal]
    n, v = next(iter(table.items()))
    return v * nominal / n


def measure(state: EnergyState) -> tuple[str, float] | None:
    """What thresholds are judged on: SOC when known, else battery voltage, else nothing."""
    if state.soc is not None and math.isfinite(state.soc):
        return "soc", state.soc
    if state.battery_voltage is not None and math.isfinite(state.battery_voltage):
        return "voltage", state.battery_voltage
    return None


def fmt(metric: str, value: float, lang: str) -> str:
    text = f"{value:.0f} %" if metric == "soc" else f"{value:.2f} V"
    return text.replace(".", ",") if lang == "fr" else text


class Level(StrEnum):
    NORMAL = "normal"
    WARN = "warn"
    STOP_SERVICES = "stop_services"
    SHUTDOWN = "shutdown"


_ORDER = (Level.NORMAL, Level.WARN, Level.STOP_SERVICES, Level.SHUTDOWN)
_LEVEL_FR = {
    Level.NORMAL: "normal",
    Level.WARN: "alerte",
    Level.STOP_SERVICES: "arrêt des services",
    Level.SHUTDOWN: "arrêt du PiBox",
}


class ShedCode(StrEnum):
    NORMAL = "shed_normal"
    LOW = "shed_low"
    HOLD = "shed_hold"
    RECOVERED = "shed_recovered"
    PROTECTION = "shed_protection"
    NO_DATA = "shed_no_data"


_TEXT: dict[ShedCode, tuple[str, str]] = {
    ShedCode.NORMAL: (
        "Énergie suffisante : batterie à {value}.",
        "Energy enough: battery at {value}.",
    ),
    ShedCode.LOW: (
        "Batterie à {value}, seuil de {threshold} atteint : niveau « {level} ».",
        "Battery at {value}, at or below {threshold}: level '{level}'.",
    ),
    ShedCode.HOLD: (
        "Batterie à {value} : niveau « {level} » gardé jusqu'à {threshold}.",
        "Battery at {value}: level '{level}' kept until {threshold}.",
    ),
    ShedCode.RECOVERED: (
        "Batterie remontée à {value} (au moins {threshold}) : niveau « {level} ».",
        "Battery back up to {value} (at least {threshold}): level '{level}'.",
    ),
    ShedCode.PROTECTION: (
        "Tension {value}, proche de la coupure de la batterie ({threshold}) : niveau « {level} ».",
        "Voltage {value}, close to the battery's cut-off ({threshold}): level '{level}'.",
    ),
    ShedCode.NO_DATA: (
        "Aucune mesure de la batterie : niveau « {level} » gardé.",
        "No battery reading: level '{level}' kept.",
    ),
}


@dataclass(frozen=True, slots=True)
class Reason:
    code: ShedCode
    fr: str
    en: str


@dataclass(frozen=True, slots=True)
class Threshold:
    """Enter a level at or below `soc` (or `voltage` for banks without SOC); leave it for the
    level above at or above the recovery values, which must be higher (the hysteresis band)."""

    soc: float
    recover_soc: float
    voltage: VoltsByNominal
    recover_voltage: VoltsByNominal


@dataclass(frozen=True, slots=True)
class SheddingThresholds:
    """Defaults: warn at 30 % (back at 40), stop services at 20 % (back at 30), no shutdown.

    Voltages (banks without SOC) are flooded lead-acid rested voltages at those SOCs; recovery
    by voltage asks for what a charger holding the bank well in hand shows. `protection_voltage`
    is where the controller's load output or the BMS cuts the power.
    """

    warn: Threshold = Threshold(30.0, 40.0, lead_acid_volts(30.0), {12: 12.6, 24: 25.2, 48: 50.4})
    stop_services: Threshold = Threshold(
        20.0, 30.0, lead_acid_volts(20.0), {12: 12.5, 24: 25.0, 48: 50.0}
    )
    shutdown: Threshold | None = None
    protection_voltage: VoltsByNominal = field(default_factory=lambda: {12: 11.1, 24: 22.2})
    protection_margin_v: VoltsByNominal = field(default_factory=lambda: {12: 0.3, 24: 0.6})

    def __post_init__(self) -> None:
        problems = []
        levels = [t for t in (self.warn, self.stop_services, self.shutdown) if t is not None]
        for t in levels:
            if t.recover_soc <= t.soc:
                problems.append(f"recover_soc {t.recover_soc} must be above soc {t.soc}")
            if any(volts_for(t.recover_voltage, n) <= v for n, v in t.voltage.items()):
                problems.append("recover_voltage must be above voltage")
        for upper, lower in zip(levels, levels[1:], strict=False):
            if lower.soc >= upper.soc:
                problems.append("each level's soc must be below the previous level's")
        if self.shutdown is not None:
            for n, v in self.shutdown.voltage.items():
                cut = volts_for(self.protection_voltage, n)
                if v <= cut:
                    problems.append(f"shutdown voltage {v} V must be above the cut-off {cut} V")
        if problems:
            raise Inconsistent("shedding", problems)

    def threshold(self, level: Level) -> Threshold | None:
        by_level = {Level.WARN: self.warn, Level.STOP_SERVICES: self.stop_services}
        return self.shutdown if level is Level.SHUTDOWN else by_level.get(level)


def shedding_decision(
    state: EnergyState, config: SheddingThresholds, current_level: Level
) -> tuple[Level, Reason]:
    """The level the box should be at now, given the level it is at (call about once a minute).

    Falling: the most severe level whose entry threshold is reached, at once (but shutdown only
    from stop_services). Rising: level by level while the value is at or above the current
    level's recovery threshold, and the voltage (when read) at or above its recovery voltage.
    Missing data keeps the current level.
    """
    current = Level(current_level)
    m = measure(state)
    if m is None:
        return current, _reason(ShedCode.NO_DATA, current, None, None)
    nominal = nominal_voltage(state)
    target, code, limit = _entered(m, config, nominal), ShedCode.LOW, None
    cut = volts_for(config.protection_voltage, nominal)
    cut += volts_for(config.protection_margin_v, nominal)
    v = state.battery_voltage
    if v is not None and v <= cut:
        worst = Level.SHUTDOWN if config.shutdown else Level.STOP_SERVICES
        if _rank(worst) > _rank(target):
            target, code, limit, m = worst, ShedCode.PROTECTION, cut, ("voltage", v)
    if _rank(target) > _rank(current):
        if target is Level.SHUTDOWN and _rank(current) < _rank(Level.STOP_SERVICES):
            target = Level.STOP_SERVICES  # stop services cleanly first; shut down next call
        return target, _reason(code, target, m, limit or _limit(config, target, m, nominal))
    level = current
    while _rank(level) > _rank(target):
        recover = _recovery(config, level, m[0], nominal)
        if recover is not None and m[1] < recover:
            break
        if not _voltage_recovered(config, level, v, nominal):
            break
        level = _ORDER[_rank(level) - 1]
    if _rank(level) < _rank(current):
        left = _ORDER[_rank(level) + 1]
        return level, _reason(ShedCode.RECOVERED, level, m, _recovery(config, left, m[0], nominal))
    if level is Level.NORMAL:
        return level, _reason(ShedCode.NORMAL, level, m, None)
    return level, _reason(ShedCode.HOLD, level, m, _recovery(config, level, m[0], nominal))


def _rank(level: Level) -> int:
    return _ORDER.index(level)


def _entered(m: tuple[str, float], config: SheddingThresholds, nominal: int) -> Level:
    """The most severe level whose entry threshold the value has reached."""
    for level in reversed(_ORDER[1:]):
        t = config.threshold(level)
        if t is not None and m[1] <= _entry(t, m[0], nominal):
            return level
    return Level.NORMAL


def _entry(t: Threshold, metric: str, nominal: int) -> float:
    return t.soc if metric == "soc" else volts_for(t.voltage, nominal)


def _limit(
    config: SheddingThresholds, level: Level, m: tuple[str, float], nominal: int
) -> float | None:
    t = config.threshold(level)
    return None if t is None else _entry(t, m[0], nominal)


def _voltage_recovered(
    config: SheddingThresholds, level: Level, v: float | None, nominal: int
) -> bool:
    """Leaving a level also needs the voltage back at its recovery value, when one is read: an
    estimated SOC drifts, and a bank whose voltage sagged to the cut-off under load springs
    back once the services stop; without this the box would stop and restart them in a loop."""
    t = config.threshold(level)
    if t is None or v is None or not math.isfinite(v):
        return True
    return v >= volts_for(t.recover_voltage, nominal)


def _recovery(config: SheddingThresholds, level: Level, metric: str, nominal: int) -> float | None:
    t = config.threshold(level)
    if t is None:
        return None
    return t.recover_soc if metric == "soc" else volts_for(t.recover_voltage, nominal)


def _reason(
    code: ShedCode, level: Level, m: tuple[str, float] | None, threshold: float | None
) -> Reason:
    texts = []
    for i, lang in enumerate(("fr", "en")):
        metric = m[0] if m else "soc"
        texts.append(
            _TEXT[code][i].format(
                value=fmt(metric, m[1], lang) if m else "?",
                threshold=fmt(metric, threshold, lang) if threshold is not None else "?",
                level=_LEVEL_FR[level] if lang == "fr" else level.value,
            )
        )
    return Reason(code, texts[0], texts[1])
