"""A small off-grid clinic system whose numbers the VE.Direct emulator reports. Pure arithmetic.

PV follows a sun curve over the local time of day with drifting clouds; an MPPT charges the
battery in bulk/absorption/float from the state of charge; the clinic load (fridge, lights,
daytime equipment) discharges it. Everything is in SI units; `emulator` renders the wire fields.
Deterministic for a given seed and sequence of `step` calls, so tests can rely on it.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

SUNRISE, SUNSET = 6.5, 18.75  # local hours, Sahel
EFFICIENCY = 0.97
MAX_TIME_TO_GO_MIN = 100 * 24 * 60
"""Beyond 100 days to go the simulated BMV says infinite (-1)."""


@dataclass
class Totals:
    """Counters a BMV/SmartShunt keeps (its history block)."""

    deepest_ah: float = -80.0
    last_ah: float = -30.0
    drawn_ah: float = -3000.0
    v_min: float = 0.0
    v_max: float = 0.0
    since_full: float = 36_000.0
    syncs: int = 12
    cycles: int = 25
    discharged_kwh: float = 60.0
    charged_kwh: float = 70.0


@dataclass
class SolarSite:
    """The whole system's state; `step(now, dt)` advances it by `dt` seconds ending at `now`."""

    rng: random.Random
    nominal_v: float = 24.0
    capacity_ah: float = 200.0
    pv_peak_w: float = 520.0
    charge_limit_a: float = 20.0
    soc: float = 70.0  # %
    battery_v: float = 0.0
    battery_i: float = 0.0  # net, + into the battery
    charger_i: float = 0.0
    load_i: float = 0.0  # MPPT load output (night lights)
    pv_v: float = 0.0
    pv_w: float = 0.0
    state: str = "off"
    tracker: str = "off"
    yield_today: float = 0.0  # kWh
    yield_yesterday: float = 1.8
    yield_total: float = 400.0
    max_w_today: float = 0.0
    max_w_yesterday: float = 410.0
    day_sequence: int = 0
    clouds: float = 1.0
    totals: Totals = field(default_factory=Totals)
    _day: int = -1

    def __post_init__(self) -> None:
        rng = self.rng
        self.soc = rng.uniform(55, 85)
        self.yield_total = round(rng.uniform(100, 900), 2)
        self.day_sequence = rng.randrange(0, 300)
        self.battery_v = self._open_circuit()
        self.totals.v_min = self.nominal_v * 0.95
        self.totals.v_max = self.nominal_v * 1.2

    def step(self, now: float, dt: float) -> None:
        self._roll_day(now)
        self.clouds = min(1.0, max(0.3, self.clouds + self.rng.gauss(0, 0.02)))
        sun = _sun(now) * self.clouds
        self._charge(sun)
        clinic_w = _clinic_load(now) * self.rng.uniform(0.9, 1.1)
        self.load_i = 1.5 if sun < 0.02 else 0.0
        self.battery_i = self.charger_i - self.load_i - clinic_w / self.battery_v
        self._integrate(dt)

    def _charge(self, sun: float) -> None:
        available_w = self.pv_peak_w * sun
        if available_w < 1.0:
            self.pv_v = round(self.rng.uniform(0.0, 0.5), 2) if sun == 0 else 12.0 * sun
            self.pv_w, self.charger_i, self.state, self.tracker = 0.0, 0.0, "off", "off"
            return
        self.state = "bulk" if self.soc < 85 else "absorption" if self.soc < 98 else "float"
        acceptance = (
            self.charge_limit_a * {"bulk": 1.0, "absorption": 0.4, "float": 0.1}[self.state]
        )
        wanted = available_w * EFFICIENCY / self.battery_v
        self.charger_i = min(wanted, acceptance)
        self.tracker = "mppt_active" if wanted <= acceptance else "voltage_current_limited"
        self.pv_w = self.charger_i * self.battery_v / EFFICIENCY
        self.pv_v = 2 * (30.0 + 4.0 * sun) + self.rng.gauss(0, 0.2)  # two panels in series
        self.max_w_today = max(self.max_w_today, self.pv_w)

    def _integrate(self, dt: float) -> None:
        hours = dt / 3600
        self.soc = min(100.0, max(5.0, self.soc + self.battery_i * hours / self.capacity_ah * 100))
        setpoint = {"absorption": 1.185, "float": 1.15}.get(self.state, 0.0) * self.nominal_v
        self.battery_v = max(self._open_circuit() + 0.02 * self.battery_i, setpoint)
        self.yield_today += self.charger_i * self.battery_v * hours / 1000
        self.yield_total += self.charger_i * self.battery_v * hours / 1000
        t = self.totals
        energy_kwh = self.battery_i * self.battery_v * hours / 1000
        if self.battery_i < 0:
            t.drawn_ah += self.battery_i * hours
            t.discharged_kwh -= energy_kwh
        else:
            t.charged_kwh += energy_kwh
        t.deepest_ah = min(t.deepest_ah, self.consumed_ah)
        t.v_min, t.v_max = min(t.v_min, self.battery_v), max(t.v_max, self.battery_v)
        t.since_full = 0.0 if self.soc >= 100 else t.since_full + dt

    def _roll_day(self, now: float) -> None:
        day = time.localtime(now).tm_yday
        if self._day not in (-1, day):
            self.yield_yesterday, self.yield_today = self.yield_today, 0.0
            self.max_w_yesterday, self.max_w_today = self.max_w_today, 0.0
            self.day_sequence = (self.day_sequence + 1) % 365
            self.totals.last_ah = self.consumed_ah
        self._day = day

    def _open_circuit(self) -> float:
        return self.nominal_v * (0.98 + 0.12 * self.soc / 100)

    @property
    def consumed_ah(self) -> float:
        """Negative Ah taken out since full, as a BMV counts it."""
        return -(100.0 - self.soc) / 100 * self.capacity_ah

    @property
    def time_to_go_min(self) -> int:
        """-1 (infinite) unless discharging, like the BMV; also -1 for a discharge too small to
        count (at night the simulated load can net a few mA: years to go, which a BMV shows
        as infinite too, and which the driver's bounds would reject)."""
        if self.battery_i >= 0:
            return -1
        minutes = int(self.soc / 100 * self.capacity_ah / -self.battery_i * 60)
        return minutes if minutes <= MAX_TIME_TO_GO_MIN else -1


def _hour(now: float) -> float:
    t = time.localtime(now)
    return t.tm_hour + t.tm_min / 60 + t.tm_sec / 3600


def _sun(now: float) -> float:
    """Relative irradiance 0..1 on a clear day at local time `now`."""
    h = _hour(now)
    if not SUNRISE < h < SUNSET:
        return 0.0
    return math.sin(math.pi * (h - SUNRISE) / (SUNSET - SUNRISE)) ** 1.3


def _clinic_load(now: float) -> float:
    """Watts: the vaccine fridge always, lights at night, equipment in consultation hours."""
    h = _hour(now)
    fridge = 45.0
    lights = 60.0 if h < 6.5 or h > 18.5 else 0.0
    equipment = 110.0 if 8.0 <= h <= 17.0 else 0.0
    return fridge + lights + equipment
