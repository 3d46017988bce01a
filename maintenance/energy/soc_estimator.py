"""State of charge for battery banks without a BMS or shunt, from what a charge controller reports.

Coulomb counting (charge efficiency on charge, Peukert on discharge, self-discharge), reset to
100 % when the charger shows the bank full (absorption/float with a tail current), and pulled
towards the rested voltage's SOC when the bank has idled long enough, weighted by how much that
voltage can say on this chemistry's curve. Every result is marked estimated; the core publishes
it as `battery_soc` of a virtual device with `soc_source = "estimated"`. Pure: the caller supplies
time steps and readings; no clock, no I/O. How it works and how well: docs/battery.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from maintenance.energy.chemistry import (
    Chemistry,
    ChemistryProfile,
    cell_count,
    ocv_slope,
    ocv_to_soc,
    profile,
)

CHARGED_STATES = frozenset({"absorption", "float", "storage"})
# states in which the charger holds the bank at a set voltage: that voltage says nothing of OCV
REGULATED_STATES = CHARGED_STATES | {"equalize"}
# Below the rated current Peukert's law overstates capacity: with k = 1.25 it gives a flooded
# bank +46 % at the T-105's 100-hour current (2.5 A), where its datasheet gives +11 % (225 Ah
# at 20 h, 250 Ah at 100 h). A clinic's night loads sit there, so an unclamped ratio made the
# estimate drift up every night; no capacity beyond the rated one is credited (docs/battery.md).
_PEUKERT_MIN_RATIO = 1.0
# the full condition must hold this long (Victron's "charged detection time" is 3 minutes)
FULL_HOLD_S = 180.0
# a "rested" reading still carries hysteresis and a little current: never trust it beyond ±2 %
_OCV_MIN_UNCERTAINTY = 2.0


def net_battery_current(charge_a: float | None, load_a: float | None) -> float | None:
    """Net battery current (+ = charging): a charge current less a load drawn beside it.

    Only for a current that does not already include the load: a Victron MPPT's VE.Direct `I`
    is the battery current with its load output already subtracted (at night with the load on
    it reads about minus the load current), and an EPEver's 0x331B is net too, so for those
    the reported `battery_current` is used as it is. This is for a controller whose current is
    its charger output only, or for a load meter on a circuit wired to the battery. Loads no
    device measures (an inverter on the battery, say) stay invisible: such a site needs a shunt
    or a BMS for its SOC to mean anything.
    """
    if charge_a is None:
        return None
    return charge_a - (load_a or 0.0)


@dataclass(frozen=True, slots=True)
class Estimate:
    """One estimate: SOC % and how far it may be off (± % points), with where it came from.

    `source`: "initial" (nothing learnt yet), "coulomb" (counted since the last anchor),
    "full_charge" (charger shows the bank full), "rested_voltage" (OCV correction just applied).
    """

    soc: float
    uncertainty: float
    source: str
    since_full_s: float | None
    estimated: bool = True

    @property
    def confidence(self) -> str:
        if self.uncertainty <= 5.0:
            return "high"
        return "medium" if self.uncertainty <= 15.0 else "low"

    def metrics(self) -> dict[str, float]:
        return {"battery_soc": round(self.soc, 1)}


class SocEstimator:
    """Feed it one step at a time with `update`; it keeps the running SOC.

    Keyword overrides replace the chemistry defaults (see `ChemistryProfile`); `initial_soc`
    None means unknown (50 ± 50 %) until the first full charge or rested reading.
    `current_offset_a` (A, default 0.1 % of capacity) is the sensor's assumed zero error; with the
    profile's `count_error` it sets how fast the stated uncertainty grows. `max_step_s` is the
    longest step still integrated.
    """

    def __init__(
        self,
        chemistry: Chemistry | str,
        nominal_voltage: float,
        capacity_ah: float,
        *,
        charge_efficiency: float | None = None,
        peukert: float | None = None,
        initial_soc: float | None = None,
        initial_uncertainty: float = 20.0,
        current_offset_a: float | None = None,
        max_step_s: float = 900.0,
        **profile_overrides: object,
    ) -> None:
        if capacity_ah <= 0:
            raise ValueError(f"capacity_ah must be positive, got {capacity_ah!r}")
        given = {"charge_efficiency": charge_efficiency, "peukert": peukert}
        overrides = {k: v for k, v in given.items() if v is not None} | profile_overrides
        self.profile: ChemistryProfile = profile(chemistry, **overrides)
        self.capacity_ah = capacity_ah
        self.cells = cell_count(self.profile, nominal_voltage)
        self.current_offset_a = (
            0.001 * capacity_ah if current_offset_a is None else current_offset_a
        )
        self.max_step_s = max_step_s
        known = initial_soc is not None
        self._soc = min(100.0, max(0.0, initial_soc)) if known else 50.0
        self._u = initial_uncertainty if known else 50.0
        self._source = "initial"
        self._since_full: float | None = None
        self._full_s = 0.0  # how long the "full" condition has held
        self._rest_s = 0.0  # how long the bank has been idle
        self._rest_used = False  # one OCV correction per rest period
        self._last_abs_a = 0.0

    @property
    def estimate(self) -> Estimate:
        return Estimate(self._soc, self._u, self._source, self._since_full)

    def update(
        self,
        dt_s: float,
        current_a: float | None,
        voltage_v: float | None,
        charger_state: str | None,
        temperature_c: float | None = None,
    ) -> Estimate:
        """Advance by `dt_s` seconds over which the mean net current was `current_a` (+ = in).

        A step that is not a number, not positive or longer than `max_step_s` (a data gap), or
        has no current, is not integrated: the SOC stays, the uncertainty widens as if the last
        known current had been wrong for the whole gap, and the rest and full timers restart.
        """
        if current_a is None or not (0 < dt_s <= self.max_step_s) or math.isnan(current_a):
            self._gap(dt_s)
            return self.estimate
        self._count(dt_s, current_a)
        if self._since_full is not None:
            self._since_full += dt_s
        self._check_full(dt_s, current_a, voltage_v, charger_state)
        if voltage_v is not None and charger_state not in REGULATED_STATES:
            self._check_rest(dt_s, current_a, voltage_v, temperature_c)
        else:
            self._rest_s, self._rest_used = 0.0, False
        return self.estimate

    def _gap(self, dt_s: float) -> None:
        if dt_s > 0 and not math.isnan(dt_s):
            lost = max(self._last_abs_a, self.current_offset_a) * dt_s / 3600.0
            self._u = min(100.0, self._u + 100.0 * lost / self.capacity_ah)
            if self._since_full is not None:
                self._since_full += dt_s
        self._full_s = self._rest_s = 0.0
        self._rest_used = False

    def _count(self, dt_s: float, current_a: float) -> None:
        """Coulomb counting in % of rated capacity, and the uncertainty it adds."""
        p, hours = self.profile, dt_s / 3600.0
        if current_a > 0:
            ah = current_a * hours * p.charge_efficiency
        else:
            rated_a = self.capacity_ah / p.rated_hours
            ratio = max(-current_a / rated_a, _PEUKERT_MIN_RATIO)
            ah = current_a * hours * ratio ** (p.peukert - 1.0)
        delta = 100.0 * ah / self.capacity_ah - p.self_discharge_pct_day * dt_s / 86400.0
        self._soc = min(100.0, max(0.0, self._soc + delta))
        err_ah = (p.count_error * abs(current_a) + self.current_offset_a) * hours
        self._u = min(100.0, self._u + 100.0 * err_ah / self.capacity_ah)
        self._last_abs_a = abs(current_a)
        self._source = "coulomb"

    def _check_full(
        self, dt_s: float, current_a: float, voltage_v: float | None, state: str | None
    ) -> None:
        """Full = charger in absorption/float, at a charged voltage, taking only a tail current.

        Float alone is not enough: a controller stays in float while a cloud makes the loads
        drain the bank, and in float after such a dip it recharges with more than a tail.
        """
        p = self.profile
        tail_a = p.tail_fraction * self.capacity_ah
        charged_v = voltage_v is not None and voltage_v >= p.full_min_cell_v * self.cells
        if state in CHARGED_STATES and charged_v and -tail_a <= current_a <= tail_a:
            self._full_s += dt_s
        else:
            self._full_s = 0.0
        if self._full_s >= FULL_HOLD_S:
            self._soc, self._u, self._source, self._since_full = 100.0, 1.0, "full_charge", 0.0

    def _check_rest(
        self, dt_s: float, current_a: float, voltage_v: float, temperature_c: float | None
    ) -> None:
        p = self.profile
        if abs(current_a) > p.rest_fraction * self.capacity_ah:
            self._rest_s, self._rest_used = 0.0, False
            return
        self._rest_s += dt_s
        if self._rest_used or self._rest_s < 60.0 * p.rest_minutes:
            return
        self._rest_used = True
        self._apply_ocv(ocv_to_soc(p, voltage_v / self.cells, temperature_c))

    def _apply_ocv(self, soc_ocv: float) -> None:
        """Blend the counted SOC with the rested-voltage SOC by their uncertainties.

        The voltage's uncertainty in SOC is the voltage error over the curve's local slope: on
        lead-acid's steady slope that is a few %, on LiFePO4's plateau tens of %, so there it
        barely moves the estimate; outside the chemistry's trusted ranges it is not used at all.
        """
        p = self.profile
        if not any(lo <= soc_ocv <= hi for lo, hi in p.ocv_trusted):
            return
        u_ocv = max(p.ocv_volt_error / max(ocv_slope(p, soc_ocv), 1e-6), _OCV_MIN_UNCERTAINTY)
        weight = self._u**2 / (self._u**2 + u_ocv**2)
        self._soc += weight * (soc_ocv - self._soc)
        self._u = math.sqrt(self._u**2 * u_ocv**2 / (self._u**2 + u_ocv**2))
        self._source = "rested_voltage"
