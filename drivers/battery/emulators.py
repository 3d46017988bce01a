"""One way to start any BMS emulator behind a fixed port name, for `edged simulate` and tests.

The four protocol emulators take different state objects (Pylontech a bus of packs, the others
one pack) and answer on a pty whose name the kernel picks. A simulated site needs a stable name
to write into its config, like the `/dev/serial/by-id/...` link of a real adapter, and a seed so
two emulated packs differ but a run can be repeated. This module only maps a seed onto each
protocol's `PackState` and keeps a symlink pointing at the pty; the protocols stay in their
own emulator modules.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass

from drivers.battery.daly import emulator as daly
from drivers.battery.jbd import emulator as jbd
from drivers.battery.jkbms import emulator as jkbms
from drivers.battery.ptyemu import PtyEmulator
from drivers.battery.pylontech import emulator as pylontech


@dataclass(frozen=True, slots=True)
class Pack:
    """A plausible LiFePO4 pack drawn from a seed, in plain units every protocol maps from."""

    soc: int  # %
    current: float  # A, + = charging
    cells_mv: list[int]
    temp_c: int
    capacity_ah: int

    @classmethod
    def draw(cls, rng: random.Random, cells: int) -> Pack:
        base = rng.randint(3250, 3340)
        return cls(
            soc=rng.randint(35, 98),
            current=round(rng.uniform(-15.0, 15.0), 1),
            cells_mv=[base + rng.randint(-6, 6) for _ in range(cells)],
            temp_c=rng.randint(22, 38),  # a battery room in Mali
            capacity_ah=rng.choice((50, 100, 200)),
        )

    @property
    def remaining_ah(self) -> float:
        return round(self.capacity_ah * self.soc / 100, 2)


def _pylontech(p: Pack) -> PtyEmulator:
    state = pylontech.PackState(
        cells_mv=p.cells_mv,
        temps_c=[p.temp_c + 2.0] + [float(p.temp_c)] * 4,
        current_raw=round(p.current * 10),  # 0.1 A, the driver's default `current_unit`
        remaining_mah=round(p.remaining_ah * 1000),
        total_mah=p.capacity_ah * 1000,
    )
    return pylontech.PtyBmsEmulator({2: state})


def _jbd(p: Pack) -> PtyEmulator:
    state = jbd.PackState(
        voltage=sum(p.cells_mv) / 1000,
        current=p.current,
        remaining_ah=p.remaining_ah,
        capacity_ah=p.capacity_ah,
        soc=p.soc,
        cells_mv=p.cells_mv,
        temps_c=[float(p.temp_c), p.temp_c + 1.0],
    )
    return jbd.PtyBmsEmulator(state)


def _daly(p: Pack) -> PtyEmulator:
    state = daly.PackState(
        voltage=round(sum(p.cells_mv) / 1000, 1),
        current=p.current,
        soc=float(p.soc),
        cells_mv=p.cells_mv,
        temp_max=p.temp_c + 1,
        temp_min=p.temp_c,
        remaining_mah=round(p.remaining_ah * 1000),
    )
    return daly.PtyBmsEmulator(state)


def _jkbms(p: Pack) -> PtyEmulator:
    state = jkbms.PackState(
        cells_mv=p.cells_mv,
        mos_c=p.temp_c + 4,
        box_c=p.temp_c,
        battery_c=p.temp_c,
        voltage=round(sum(p.cells_mv) / 1000, 2),
        current=p.current,
        soc=p.soc,
        capacity_ah=p.capacity_ah,
    )
    return jkbms.PtyBmsEmulator(state)


BUILDERS: dict[str, tuple[int, Callable[[Pack], PtyEmulator]]] = {
    # protocol (= driver name) → (cells in series, emulator builder)
    "pylontech": (15, _pylontech),  # 48 V US2000/US3000
    "jbd": (4, _jbd),  # 12 V pack
    "daly": (8, _daly),  # 24 V pack
    "jkbms": (8, _jkbms),  # 24 V pack
}


class LinkedEmulator:
    """A protocol emulator whose pty is reachable at `link` while it runs (the adapter's name).

    `emulator` is the protocol's own `PtyBmsEmulator` (its `state` or `packs` are settable);
    Pylontech answers at address 2, the driver's default.
    """

    def __init__(self, emulator: PtyEmulator, link: str) -> None:
        self.emulator, self.link = emulator, link

    @property
    def path(self) -> str:
        return self.link

    def start(self) -> LinkedEmulator:
        self.emulator.start()
        tmp = f"{self.link}.tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.emulator.path, tmp)
        os.replace(tmp, self.link)  # atomic: a reader never sees the link missing or half-made
        return self

    def stop(self) -> None:
        """Remove the link, then close the pty: to a driver, the adapter was unplugged."""
        if os.path.islink(self.link):
            os.unlink(self.link)
        self.emulator.stop()

    def set_fault(self, mode: str) -> None:
        self.emulator.set_fault(mode)


def make_emulator(protocol: str, link: str, seed: int | None = None) -> LinkedEmulator:
    """An unstarted emulator of `protocol` (a BMS driver name) to be served at `link`."""
    if protocol not in BUILDERS:
        raise ValueError(f"no BMS emulator for {protocol!r}; known: {', '.join(BUILDERS)}")
    cells, build = BUILDERS[protocol]
    return LinkedEmulator(build(Pack.draw(random.Random(seed), cells)), link)
