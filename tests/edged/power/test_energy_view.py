"""What the power policy reads: per-metric freshness, the battery source, PV summed."""

from __future__ import annotations

import threading

from edged.config.loader import parse
from edged.power.energy_view import EnergyView
from edged.readings import Sample

DEVICES = [
    {"id": "bmv", "driver": "vedirect", "port": "/dev/ttyUSB0"},
    {"id": "mppt1", "driver": "vedirect", "port": "/dev/ttyUSB1"},
    {"id": "mppt2", "driver": "vedirect", "port": "/dev/ttyUSB2"},
]


def view(**power) -> EnergyView:
    raw = {"site": {"id": "s"}, "devices": DEVICES, "power": {"capacity_wh": 2400, **power}}
    return EnergyView(parse(raw))


def sample(device: str, **metrics) -> Sample:
    return Sample(device, 1_790_000_000.0, True, metrics)


def test_a_metric_the_device_stopped_sending_ages_out_beside_fresh_ones():
    ev = view(stale_after=0.3)
    ev.observe(sample("bmv", battery_soc=80.0, battery_voltage=12.9))
    assert ev.state(0.0, True).soc == 80.0
    threading.Event().wait(0.4)
    ev.observe(sample("bmv", battery_voltage=12.8))  # SOC now "---": the driver leaves it out
    state = ev.state(0.0, True)
    assert (state.soc, state.battery_voltage) == (None, 12.8)


def test_the_first_device_with_a_soc_is_the_battery_and_pv_is_summed():
    ev = view()
    ev.observe(sample("mppt1", battery_voltage=13.4, pv_power=120.0, charger_state="bulk"))
    ev.observe(sample("mppt2", battery_voltage=13.3, pv_power=80.0))
    assert ev.state(0.0, True).battery_voltage == 13.4  # no SOC anywhere: first with volts
    ev.observe(sample("bmv", battery_soc=71.0, battery_voltage=12.9, battery_current=-3.0))
    state = ev.state(0.0, True)
    assert (state.soc, state.battery_voltage, state.battery_current_a) == (71.0, 12.9, -3.0)
    assert (state.pv_power_w, state.charger_state) == (200.0, "bulk")


def test_a_named_battery_is_used_even_without_readings():
    ev = view(battery="mppt2")
    ev.observe(sample("bmv", battery_soc=71.0))
    assert ev.state(0.0, False).soc is None  # mppt2 said nothing yet: no reading, not the BMV's
