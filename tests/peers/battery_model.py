"""A reference battery bank, charge controller and clinic, to measure the SOC estimator against.

The bank is a simple equivalent circuit: true capacity, Peukert on discharge, a coulombic
efficiency that falls near full (gassing), self-discharge, a rested OCV curve, a charge-acceptance
curve (the cell voltage the bank needs before it takes current, steep near full, which is what
makes the absorption current taper) and a series resistance. Its tables are written here on
purpose, not taken from maintenance.energy.chemistry, and its true figures differ from the
estimator's defaults (capacity, Peukert exponent, efficiency), as a real bank's do.

The controller does bulk / absorption / float by voltage like a Victron MPPT: bulk until the
absorption voltage, absorption until a tail current or a time limit, float until the sun goes,
once a day; its load output disconnects at a low voltage and reconnects higher. It reports
what a controller reports: battery voltage, charge current, load current, state, with noise,
gain error and offset. Deterministic for a given seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

Table = tuple[tuple[float, float], ...]


def interp(table: Table, x: float) -> float:
    if x <= table[0][0]:
        return table[0][1]
    for (x0, y0), (x1, y1) in zip(table, table[1:], strict=False):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return table[-1][1]


@dataclass
class BankSpec:
    """True physical figures of one bank (per-cell voltages, SOC as a fraction)."""

    cells: int
    capacity_ah: float  # true capacity at `rated_hours`
    rated_hours: float
    peukert: float  # above the rated current
    peukert_low: float  # below it: datasheets give far less extra capacity than `peukert` would
    r_ohm: float
    ocv: Table
    accept: Table  # cell voltage needed to take charge at ~0 A
    efficiency: Table  # coulombic efficiency vs SOC
    self_discharge_day: float  # fraction of capacity per day
    v_abs: float  # controller settings, per cell
    v_float: float
    v_lvd: float  # load disconnect (under load), per cell
    v_lvr: float  # load reconnect, per cell
    max_charge_a: float
    pv_peak_a: float  # charge current a clear noon would give


LEAD_ACID = BankSpec(
    cells=12,
    capacity_ah=190.0,  # a bank sold as 200 Ah C20, slightly aged
    rated_hours=20.0,
    peukert=1.22,
    peukert_low=1.07,  # Trojan T-105: 225 Ah at 20 h, 250 Ah at 100 h (ln(250/225)/ln(11.25/2.5))
    r_ohm=0.015,
    ocv=((0.0, 1.895), (0.2, 1.950), (0.5, 2.020), (0.8, 2.085), (1.0, 2.125)),
    accept=(
        (0.0, 2.05),
        (0.5, 2.15),
        (0.7, 2.20),
        (0.8, 2.25),
        (0.9, 2.32),
        (0.95, 2.36),
        (0.98, 2.385),
        (0.995, 2.398),
        (1.0, 2.43),
    ),
    efficiency=((0.0, 0.95), (0.8, 0.93), (0.9, 0.88), (0.97, 0.75), (1.0, 0.6)),
    self_discharge_day=0.002,
    v_abs=2.40,
    v_float=2.30,
    v_lvd=1.93,
    v_lvr=2.10,
    max_charge_a=40.0,
    pv_peak_a=40.0,
)

LIFEPO4 = BankSpec(
    cells=8,
    capacity_ah=196.0,
    rated_hours=5.0,
    peukert=1.04,
    peukert_low=1.01,
    r_ohm=0.008,
    ocv=(
        (0.0, 2.85),
        (0.05, 3.05),
        (0.1, 3.16),
        (0.2, 3.22),
        (0.3, 3.255),
        (0.5, 3.285),
        (0.7, 3.30),
        (0.9, 3.325),
        (0.95, 3.335),
        (0.99, 3.36),
        (1.0, 3.42),
    ),
    accept=(
        (0.0, 2.88),
        (0.05, 3.08),
        (0.1, 3.19),
        (0.2, 3.25),
        (0.5, 3.315),
        (0.9, 3.355),
        (0.95, 3.38),
        (0.97, 3.42),
        (0.99, 3.50),
        (1.0, 3.62),
    ),
    efficiency=((0.0, 0.995), (0.95, 0.99), (1.0, 0.97)),
    self_discharge_day=0.001,
    v_abs=3.55,
    v_float=3.375,
    v_lvd=3.00,
    v_lvr=3.25,
    max_charge_a=40.0,
    pv_peak_a=36.0,
)


@dataclass
class Bank:
    spec: BankSpec
    soc: float  # fraction of true capacity

    def accept_a(self, v_set: float) -> float:
        """Current the bank takes with its terminals held at `v_set` volts (the whole bank)."""
        s = self.spec
        return max(0.0, (v_set - s.cells * interp(s.accept, self.soc)) / s.r_ohm)

    def voltage(self, current: float) -> float:
        s = self.spec
        if current > 0:
            return s.cells * interp(s.accept, self.soc) + s.r_ohm * current
        return s.cells * interp(s.ocv, self.soc) + s.r_ohm * current

    def step(self, dt_s: float, current: float) -> None:
        s, hours = self.spec, dt_s / 3600.0
        if current > 0:
            ah = current * hours * interp(s.efficiency, self.soc)
        else:
            ratio = -current * s.rated_hours / s.capacity_ah
            k = s.peukert if ratio >= 1.0 else s.peukert_low
            ah = current * hours * ratio ** (k - 1.0)
        self.soc += ah / s.capacity_ah - s.self_discharge_day * dt_s / 86400.0
        self.soc = min(1.0, max(0.0, self.soc))


@dataclass
class Controller:
    """Bulk/absorption/float by voltage, once a day; a load output with low-voltage cut-off."""

    spec: BankSpec
    state: str = "off"
    abs_done: bool = False
    abs_s: float = 0.0
    load_on: bool = True
    tail_a: float = 3.0
    abs_max_s: float = 3 * 3600.0

    def step(
        self, bank: Bank, dt_s: float, pv_a: float, load_a: float
    ) -> tuple[float, float, float]:
        """One step: (charger output current, load output current, bank voltage), true values.

        While regulating, the charger holds the bank at its set voltage even when the bank takes
        nothing (full, in float): the voltage a controller then reports is its set point.
        """
        s = self.spec
        load = load_a if self.load_on else 0.0
        v = None
        if pv_a < 0.2:
            self.state, out = "off", 0.0
        else:
            target = s.cells * (s.v_float if self.abs_done else s.v_abs)
            needed = load + bank.accept_a(target)
            out = min(pv_a, s.max_charge_a, needed)
            if out >= needed - 1e-9:
                v = target
            self._advance(v is not None, out - load, dt_s)
        if v is None:
            v = bank.voltage(out - load)
        if self.load_on and v < s.cells * s.v_lvd:
            self.load_on = False
        elif not self.load_on and v >= s.cells * s.v_lvr:
            self.load_on = True
        return out, load, v

    def _advance(self, regulating: bool, battery_a: float, dt_s: float) -> None:
        if self.abs_done:
            self.state = "float"
            return
        if not regulating:
            self.state = "bulk"
            return
        self.state = "absorption"
        self.abs_s += dt_s
        if battery_a < self.tail_a or self.abs_s >= self.abs_max_s:
            self.abs_done, self.state = True, "float"

    def new_day(self) -> None:
        self.abs_done, self.abs_s = False, 0.0


SKY = {"sunny": 1.0, "cloudy": 0.45, "rainy": 0.12}


@dataclass
class Site:
    """Sun and a clinic's loads (amps at the bank's voltage), minute by minute."""

    spec: BankSpec
    days: tuple[str, ...]
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    scale: float = 1.0  # loads scale (LiFePO4 banks run at a higher voltage)

    def pv_a(self, t: float) -> float:
        day, hour = int(t // 86400), (t % 86400) / 3600.0
        if not 6.5 <= hour <= 18.5:
            return 0.0
        sky = SKY[self.days[day]]
        if sky < 1.0:  # clouds come and go
            sky *= 0.5 + self.rng.random()
        return self.spec.pv_peak_a * sky * math.sin(math.pi * (hour - 6.5) / 12.0) ** 2

    def load_a(self, t: float) -> float:
        day, minute = int(t // 86400), int(t % 86400) // 60
        hour = minute / 60.0
        fridge = 5.0 if minute % 50 < 20 else 0.0  # compressor: 20 min on in 50
        lights = 3.0 if hour >= 18.5 or hour < 6.5 else 0.0
        consult = 6.0 if 8.0 <= hour < 16.0 else 0.0
        night_birth = 8.0 if day % 3 == 1 and 1.0 <= hour < 2.5 else 0.0
        return self.scale * (fridge + lights + consult + night_birth)


@dataclass(frozen=True)
class Step:
    """What the estimator is fed for one minute, and the truth to compare with."""

    t: float
    true_soc: float  # %
    voltage: float
    charge_a: float  # the charger's output alone
    battery_a: float  # what a Victron MPPT reports as `I`: its output less its load output
    load_a: float
    true_a: float  # the bank's real current (+ = charging), what a good shunt measures
    state: str
    temperature: float


def simulate(spec: BankSpec, days: tuple[str, ...], soc0: float, seed: int = 1) -> Iterator[Step]:
    """Minute steps over `days`, starting at midnight with the bank at `soc0` (fraction)."""
    rng = random.Random(seed)
    bank, ctl = Bank(spec, soc0), Controller(spec)
    site = Site(spec, days, scale=24.0 / (spec.cells * 3.2) if spec.cells == 8 else 1.0)
    dt = 60.0
    for i in range(len(days) * 1440):
        t = i * dt
        if i % 1440 == 0:
            ctl.new_day()
        out, load, v = ctl.step(bank, dt, site.pv_a(t), site.load_a(t))
        bank.step(dt, out - load)
        hour = (t % 86400) / 3600.0
        charge_a = max(0.0, out * 1.01 + 0.1 + rng.gauss(0.0, 0.15)) if out else 0.0
        load_a = max(0.0, load * 0.98 + rng.gauss(0.0, 0.05)) if load else 0.0
        yield Step(
            t=t + dt,
            true_soc=100.0 * bank.soc,
            voltage=v + rng.gauss(0.0, 0.01),
            charge_a=charge_a,
            battery_a=charge_a - load_a,
            load_a=load_a,
            true_a=out - load,
            state=ctl.state,
            temperature=30.0 + 6.0 * math.sin(math.pi * (hour - 9.0) / 12.0),
        )
