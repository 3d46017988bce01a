"""The battery and sun as the power policy sees them now, from the latest live samples.

Runners hand every sample to `observe` (from their own threads); the scheduler asks `state()`
about once a minute. Freshness is judged on the monotonic clock, so a wall-clock jump neither
makes an old reading look new nor a new one look old; a reading older than `stale_after` is
passed as None (the policy then waits, and a running job stops: stale data must never look
live).

Which battery: `[power] battery` (a device or a `[[batteries]]` bank), else the first bank,
else the first device (in config order) reporting battery_soc, else battery_voltage. PV is the
sum of every fresh device's pv_power, as the PV profile (`telemetry.pv_hours`)
sums it, so "now" and "the sunniest hour" compare like with like.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from edged.config.settings import Config
from edged.readings import Sample
from maintenance.energy.shedding import EnergyState


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class EnergyView:
    def __init__(self, config: Config) -> None:
        power = config.power
        banks = {b.id: b for b in config.batteries}
        self.source = power.battery or (config.batteries[0].id if config.batteries else None)
        bank = banks.get(self.source or "")
        self.nominal_voltage = bank.nominal_voltage if bank else None
        self.capacity_wh = power.capacity_wh or (
            bank.capacity_ah * bank.nominal_voltage if bank else None
        )
        self.stale_after = power.stale_after
        self._order = [d.id for d in config.devices] + [b.id for b in config.batteries]
        self._latest: dict[str, dict[str, tuple[float, Any]]] = {}
        """Per device, per metric: (monotonic time received, value). Per metric, not per
        device: a BMV that starts sending `---` for its SOC keeps sending volts, and its last
        SOC must age out, not stay "live" beside fresh volts."""
        self._lock = threading.Lock()

    def observe(self, sample: Sample) -> None:
        now = time.monotonic()
        with self._lock:
            metrics = self._latest.setdefault(sample.device, {})
            for name, value in sample.metrics.items():
                metrics[name] = (now, value)

    def state(self, now_wall: float, clock_synced: bool) -> EnergyState:
        """The readings to decide on now; stale ones are None."""
        now = time.monotonic()
        with self._lock:
            fresh = {
                device: {k: v for k, (seen, v) in metrics.items() if now - seen <= self.stale_after}
                for device, metrics in self._latest.items()
            }
        source = self._battery_source(fresh)
        battery = fresh.get(source or "", {})
        pv = [p for m in fresh.values() if (p := _number(m.get("pv_power"))) is not None]
        charger = next(
            (
                m["charger_state"]
                for d in self._order
                if isinstance((m := fresh.get(d, {})).get("charger_state"), str)
            ),
            None,
        )
        return EnergyState(
            ts=now_wall,
            soc=_number(battery.get("battery_soc")),
            battery_voltage=_number(battery.get("battery_voltage")),
            pv_power_w=sum(pv) if pv else None,
            battery_current_a=_number(battery.get("battery_current")),
            charger_state=charger,
            clock_synced=clock_synced,
            nominal_voltage=self.nominal_voltage,
        )

    def _battery_source(self, fresh: dict[str, dict[str, Any]]) -> str | None:
        if self.source is not None:
            return self.source
        for metric in ("battery_soc", "battery_voltage"):
            for device in self._order:
                if _number(fresh.get(device, {}).get(metric)) is not None:
                    return device
        return None

    def describe(self, state: EnergyState) -> dict[str, Any]:
        """The live view's `power.energy` block (for `edged status` and `edged schedule`)."""
        return {
            "source": self.source,
            "soc": state.soc,
            "battery_voltage": state.battery_voltage,
            "battery_current": state.battery_current_a,
            "pv_power": state.pv_power_w,
            "charger_state": state.charger_state,
            "clock_synced": state.clock_synced,
            "capacity_wh": self.capacity_wh,
        }
