"""Battery chemistry defaults as data: OCV curves, efficiencies, Peukert, cycle life.

Used by the SOC estimator (`maintenance.energy.soc_estimator`) and the health figures
(`maintenance.energy.battery_health`). Every figure is a typical value for the chemistry, not for a
given product: a site's own datasheet wins, through `profile(chemistry, **overrides)`. Sources and
the reasoning behind each default are in docs/battery.md ("Chemistry defaults"). Pure data and pure
functions: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

Table = tuple[tuple[float, float], ...]


class Chemistry(StrEnum):
    FLOODED = "flooded"
    AGM = "agm"
    GEL = "gel"
    LIFEPO4 = "lifepo4"


@dataclass(frozen=True, slots=True)
class ChemistryProfile:
    """What the estimator and the health figures assume about one chemistry.

    Voltages are per cell; SOC in %; DoD as a fraction (0.5 = half the capacity).
    """

    chemistry: Chemistry
    cell_nominal_v: float
    ocv: Table  # (SOC %, rested cell voltage at 25 °C), SOC ascending, voltage ascending
    ocv_temp_coeff: float  # V per °C per cell added to the table voltage (0 = not compensated)
    ocv_volt_error: float  # V per cell: how well a "rested" reading matches the true OCV
    ocv_trusted: tuple[tuple[float, float], ...]  # SOC % ranges where a rested voltage is used
    charge_efficiency: float  # Ah stored / Ah put in (coulombic)
    peukert: float  # Peukert exponent, applied on discharge
    rated_hours: float  # the capacity rating's discharge time (C20 -> 20 h)
    self_discharge_pct_day: float  # % of capacity lost per day at 25 °C
    count_error: float  # fraction of |I|·dt a count may be off (gain, efficiency, Peukert, Ah)
    full_min_cell_v: float  # at or above this in absorption/float with a tail current = full
    tail_fraction: float  # tail current as a fraction of capacity (0.02 = 2 % C, in A)
    rest_fraction: float  # |I| below this fraction of capacity (in A) counts as resting
    rest_minutes: float  # resting this long before the voltage is taken as OCV
    cycle_life: Table  # (DoD fraction, cycles to end of life), DoD ascending
    lifetime_throughput_efc: float  # equivalent full cycles over the battery's life
    calendar_life_years: float  # service life at 20 °C however little it is cycled


# Lead-acid rested voltages per cell (12 V flooded table divided by 6); AGM and gel sit ~15 mV
# per cell higher (denser acid). See docs/battery.md for the sources.
_FLOODED_OCV: Table = (
    (0.0, 1.890),
    (10.0, 1.918),
    (20.0, 1.943),
    (30.0, 1.968),
    (40.0, 1.993),
    (50.0, 2.017),
    (60.0, 2.040),
    (70.0, 2.062),
    (80.0, 2.083),
    (90.0, 2.103),
    (100.0, 2.122),
)
_VRLA_OCV: Table = tuple((soc, round(v + 0.015, 3)) for soc, v in _FLOODED_OCV)
# LiFePO4: steep below 10 %, a plateau of a few tens of mV from 20 to 95 %, steep again at the top.
_LFP_OCV: Table = (
    (0.0, 2.800),
    (5.0, 3.000),
    (10.0, 3.150),
    (15.0, 3.200),
    (20.0, 3.220),
    (30.0, 3.250),
    (40.0, 3.270),
    (50.0, 3.285),
    (70.0, 3.300),
    (90.0, 3.320),
    (95.0, 3.330),
    (99.0, 3.350),
    (100.0, 3.400),
)

_LEAD = dict(
    cell_nominal_v=2.0,
    ocv_temp_coeff=0.0002,
    ocv_volt_error=0.010,
    ocv_trusted=((0.0, 100.0),),
    rated_hours=20.0,
    count_error=0.10,
    full_min_cell_v=2.20,
    tail_fraction=0.02,
    rest_fraction=0.005,
    rest_minutes=120.0,
)

PROFILES: dict[Chemistry, ChemistryProfile] = {
    Chemistry.FLOODED: ChemistryProfile(
        Chemistry.FLOODED,
        ocv=_FLOODED_OCV,
        charge_efficiency=0.85,
        peukert=1.25,
        self_discharge_pct_day=0.3,
        cycle_life=((0.2, 3000.0), (0.3, 2100.0), (0.5, 1200.0), (0.8, 750.0), (1.0, 500.0)),
        lifetime_throughput_efc=600.0,
        calendar_life_years=5.0,
        **_LEAD,
    ),
    Chemistry.AGM: ChemistryProfile(
        Chemistry.AGM,
        ocv=_VRLA_OCV,
        charge_efficiency=0.90,
        peukert=1.15,
        self_discharge_pct_day=0.14,
        cycle_life=((0.3, 1500.0), (0.5, 600.0), (0.8, 400.0), (1.0, 300.0)),
        lifetime_throughput_efc=300.0,
        calendar_life_years=8.0,
        **_LEAD,
    ),
    Chemistry.GEL: ChemistryProfile(
        Chemistry.GEL,
        ocv=_VRLA_OCV,
        charge_efficiency=0.88,
        peukert=1.15,
        self_discharge_pct_day=0.09,
        cycle_life=((0.3, 1800.0), (0.5, 750.0), (0.8, 500.0), (1.0, 350.0)),
        lifetime_throughput_efc=375.0,
        calendar_life_years=12.0,
        **_LEAD,
    ),
    Chemistry.LIFEPO4: ChemistryProfile(
        Chemistry.LIFEPO4,
        cell_nominal_v=3.2,
        ocv=_LFP_OCV,
        ocv_temp_coeff=0.0,
        ocv_volt_error=0.010,
        ocv_trusted=((0.0, 15.0), (97.0, 100.0)),
        charge_efficiency=0.99,
        peukert=1.03,
        rated_hours=5.0,
        self_discharge_pct_day=0.10,
        count_error=0.04,
        full_min_cell_v=3.35,
        tail_fraction=0.02,
        rest_fraction=0.005,
        rest_minutes=30.0,
        cycle_life=((0.5, 5000.0), (0.7, 3000.0), (0.8, 2500.0), (1.0, 2000.0)),
        lifetime_throughput_efc=2500.0,
        calendar_life_years=10.0,
    ),
}


def profile(chemistry: Chemistry | str, **overrides: object) -> ChemistryProfile:
    """The defaults for `chemistry` with `overrides` applied (an unknown name raises TypeError)."""
    return replace(PROFILES[Chemistry(chemistry)], **overrides)


def interpolate(table: Table, x: float) -> float:
    """Piecewise-linear y(x) over a table sorted by x, clamped at both ends."""
    if x <= table[0][0]:
        return table[0][1]
    for (x0, y0), (x1, y1) in zip(table, table[1:], strict=False):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return table[-1][1]


def cell_count(p: ChemistryProfile, nominal_voltage: float) -> int:
    """Cells in series for a bank of `nominal_voltage` (24 V lead-acid = 12, 25.6 V LFP = 8)."""
    return max(1, round(nominal_voltage / p.cell_nominal_v))


def ocv_to_soc(p: ChemistryProfile, cell_v: float, temperature_c: float | None = None) -> float:
    """SOC % from a rested cell voltage, compensated to the table's 25 °C where the chemistry is."""
    if temperature_c is not None:
        cell_v -= p.ocv_temp_coeff * (temperature_c - 25.0)
    return interpolate(tuple((v, soc) for soc, v in p.ocv), cell_v)


def ocv_slope(p: ChemistryProfile, soc: float) -> float:
    """dV/dSOC of the OCV table at `soc`, in V per cell per % (the flatter, the less it says)."""
    for (s0, v0), (s1, v1) in zip(p.ocv, p.ocv[1:], strict=False):
        if soc <= s1:
            return (v1 - v0) / (s1 - s0)
    (s0, v0), (s1, v1) = p.ocv[-2:]
    return (v1 - v0) / (s1 - s0)


def cycle_life(p: ChemistryProfile, dod: float) -> float:
    """Cycles to end of life at depth of discharge `dod` (fraction), log-log interpolated.

    Wöhler-type curves are close to straight lines in log-log, so interpolating there (and
    extending the end segments) is closer to datasheets than linear interpolation.
    """
    if dod <= 0:
        return math.inf
    pts = [(math.log(d), math.log(n)) for d, n in p.cycle_life]
    x = math.log(dod)
    i = 0
    while i < len(pts) - 2 and x > pts[i + 1][0]:
        i += 1
    (x0, y0), (x1, y1) = pts[i], pts[i + 1]
    return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
