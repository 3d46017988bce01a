"""The SOC estimator against a reference bank (tests/peers/battery_model.py) and by its rules.

The bound stated in docs/battery.md is measured here: over nine simulated days (sunny, cloudy,
three rainy days that trip the load disconnect, recovery) the estimate stays within 6 % SOC of
the truth for flooded lead-acid (measured 5.4 %) and 5 % for LiFePO4 (measured 4.1 %), and is
within 3 % each time the charger shows the bank full (measured 1.2 % and 0.6 %). The estimator
is fed what a Victron MPPT reports: `I` already net of its load output (issue 13, item 2; fed
the load a second time it is 75 % off), and the reference bank gives the little extra capacity a
datasheet gives below the rated current, not Peukert's (item 3; with Peukert's credit there the
flooded estimate was 14.7 % off, drifting up every night).
"""

from __future__ import annotations

import pytest

from maintenance.energy.chemistry import cycle_life, ocv_to_soc, profile
from maintenance.energy.soc_estimator import FULL_HOLD_S, SocEstimator, net_battery_current
from tests.peers.battery_model import LEAD_ACID, LIFEPO4, BankSpec, simulate

WEEK = ("sunny", "cloudy", "sunny", "rainy", "rainy", "rainy", "cloudy", "sunny", "sunny")
CASES = {
    "flooded": (LEAD_ACID, 24.0, 6.0),
    "lifepo4": (LIFEPO4, 25.6, 5.0),
}
# median upward drift of the estimate over the truth across a night (measured 0.9 % and 0.5 %;
# 2.5 % and 1.9 % when the estimator credited Peukert's extra capacity below the rated current)
NIGHT_DRIFT = {"flooded": 1.2, "lifepo4": 0.8}


def trace_of(
    chemistry: str, initial_soc: float | None, load_subtracted: bool = False
) -> list[tuple[float, float, str, float, float]]:
    """(true SOC, estimate, source, uncertainty, t) per minute, the estimator fed what a Victron
    MPPT reports (`I`, net of its load output); `load_subtracted`: the load taken off again."""
    spec: BankSpec = CASES[chemistry][0]
    est = SocEstimator(chemistry, CASES[chemistry][1], 200.0, initial_soc=initial_soc)
    out = []
    for st in simulate(spec, WEEK, soc0=0.75):
        current = net_battery_current(st.battery_a, st.load_a if load_subtracted else None)
        e = est.update(60.0, current, st.voltage, st.state, st.temperature)
        assert e.estimated and 0.0 <= e.soc <= 100.0
        out.append((st.true_soc, e.soc, e.source, e.uncertainty, st.t))
    return out


def run(chemistry: str, initial_soc: float | None) -> list[tuple[float, float, str]]:
    """(true SOC, estimate, source) per minute."""
    return [(true, est, src) for true, est, src, _, _ in trace_of(chemistry, initial_soc)]


def full_charges(trace: list[tuple[float, float, str]]) -> list[float]:
    """Error at each moment the estimator re-synchronises to full."""
    return [
        est - true
        for (true, est, src), (_, _, before) in zip(trace[1:], trace, strict=False)
        if src == "full_charge" and before != "full_charge"
    ]


@pytest.mark.parametrize("chemistry", CASES)
def test_error_bounded_over_a_week_and_small_at_each_full_charge(chemistry):
    bound = CASES[chemistry][2]
    trace = run(chemistry, initial_soc=75.0)
    worst = max(abs(est - true) for true, est, _ in trace)
    assert worst <= bound
    syncs = full_charges(trace)
    assert len(syncs) >= 3  # several sunny days reach float: the check below is not vacuous
    assert all(abs(err) <= 3.0 for err in syncs)
    assert min(true for true, _, _ in trace) < 20.0  # the rainy stretch drains it to the cut-off


@pytest.mark.parametrize("chemistry", CASES)
def test_stated_uncertainty_covers_the_error_most_of_the_time(chemistry):
    trace = trace_of(chemistry, 75.0)
    inside = sum(abs(est - true) <= u for true, est, _, u, _ in trace) / len(trace)
    assert inside >= 0.9  # measured 97.8 % (flooded), 93.5 % (LiFePO4)


@pytest.mark.parametrize("chemistry", CASES)
def test_no_upward_drift_overnight_at_the_low_night_currents(chemistry):
    """Night loads sit far below the C20 (C5) current: no extra capacity may be credited there."""
    drifts, start, prev = [], None, None
    for true, est, _, _, t in trace_of(chemistry, 75.0):
        hour = (t % 86400) / 3600.0
        night = hour >= 19.0 or hour < 6.0
        if night and start is None:
            start = (est, true)
        elif not night and start is not None and prev is not None:
            drifts.append((prev[0] - start[0]) - (prev[1] - start[1]))
            start = None
        prev = (est, true)
    assert len(drifts) == len(WEEK)
    assert sorted(drifts)[len(drifts) // 2] <= NIGHT_DRIFT[chemistry]


def test_peukert_credits_no_extra_capacity_below_the_rated_current():
    est = SocEstimator("flooded", 12, 225.0, initial_soc=80.0, self_discharge_pct_day=0.0)
    for _ in range(600):
        est.update(60.0, -2.5, 12.2, "off")  # the T-105's 100-hour current, for 10 h: 25 Ah
    assert est.estimate.soc == pytest.approx(80.0 - 100.0 * 25.0 / 225.0)


@pytest.mark.parametrize("chemistry", CASES)
def test_victron_current_is_already_net_of_the_load_output(chemistry):
    """Subtracting the load output again (the old `load = "mppt"`) ruins the estimate."""
    twice = trace_of(chemistry, 75.0, load_subtracted=True)
    assert max(abs(est - true) for true, est, *_ in twice) > 3 * CASES[chemistry][2]


@pytest.mark.parametrize("chemistry", CASES)
@pytest.mark.parametrize("initial_soc", [20.0, None])
def test_wrong_start_converges_after_first_full_charge(chemistry, initial_soc):
    trace = run(chemistry, initial_soc)
    assert abs(trace[0][1] - trace[0][0]) > 20.0  # it really starts wrong
    first = next(i for i, (_, _, src) in enumerate(trace) if src == "full_charge")
    after = [abs(est - true) for true, est, _ in trace[first:]]
    assert after[0] <= 3.0
    assert max(after) <= CASES[chemistry][2]


def test_net_current_is_charge_minus_a_load_drawn_beside_it():
    assert net_battery_current(10.0, 4.0) == 6.0
    assert net_battery_current(0.0, 3.5) == -3.5
    assert net_battery_current(2.0, None) == 2.0
    assert net_battery_current(None, 3.0) is None


def test_charge_counts_with_efficiency_and_discharge_with_peukert():
    est = SocEstimator("flooded", 12, 100.0, initial_soc=50.0, self_discharge_pct_day=0.0)
    for _ in range(60):
        est.update(60.0, 10.0, 12.6, "bulk")
    assert est.estimate.soc == pytest.approx(50.0 + 10.0 * 0.85)  # 10 Ah in, 8.5 Ah stored
    est = SocEstimator("flooded", 12, 100.0, initial_soc=50.0, self_discharge_pct_day=0.0)
    for _ in range(60):
        est.update(60.0, -10.0, 12.0, "off")  # twice the C20 current (5 A): Peukert 1.25
    assert est.estimate.soc == pytest.approx(50.0 - 10.0 * 2.0**0.25)


def test_float_with_tail_current_resyncs_but_float_while_discharging_does_not():
    est = SocEstimator("agm", 24, 200.0, initial_soc=80.0)
    for _ in range(10):
        e = est.update(60.0, -12.0, 26.0, "float")  # a cloud: loads drain the bank in float
    assert e.source == "coulomb" and e.soc < 80.0
    steps = int(FULL_HOLD_S // 60)
    for i in range(steps):
        e = est.update(60.0, 1.5, 27.6, "float")  # 1.5 A < 2 % of 200 Ah, at float voltage
        assert (e.source == "full_charge") == (i == steps - 1)
    assert e.soc == 100.0 and e.uncertainty == 1.0 and e.since_full_s == 0.0


def test_absorption_resyncs_only_once_the_current_tapers():
    est = SocEstimator("lifepo4", 25.6, 100.0, initial_soc=60.0)
    for _ in range(10):
        e = est.update(60.0, 20.0, 28.4, "absorption")
    assert e.source == "coulomb"
    for _ in range(3):
        e = est.update(60.0, 1.0, 28.4, "absorption")
    assert e.source == "full_charge" and e.soc == 100.0


def test_rested_lead_acid_voltage_pulls_a_wrong_count_back():
    est = SocEstimator("flooded", 24, 200.0, initial_soc=90.0)
    rested_v = 12 * 2.017  # the table's 50 % at 25 °C
    for _ in range(119):
        e = est.update(60.0, 0.3, rested_v, "off", temperature_c=25.0)
    assert e.soc > 85.0  # not yet: lead-acid needs 2 h of rest
    e = est.update(60.0, 0.3, rested_v, "off", temperature_c=25.0)
    assert e.source == "rested_voltage"
    assert abs(e.soc - 50.0) < 5.0


def test_lead_acid_ocv_is_temperature_compensated():
    p = profile("flooded")
    assert ocv_to_soc(p, 2.017, 25.0) == pytest.approx(50.0)
    # +0.2 mV/°C per cell: 15 °C hotter reads 3 mV higher for the same charge
    assert ocv_to_soc(p, 2.020, 40.0) == pytest.approx(50.0)
    assert ocv_to_soc(profile("lifepo4"), 3.285, 40.0) == pytest.approx(50.0)


@pytest.mark.parametrize(("cell_v", "start", "moves"), [(3.285, 80.0, False), (3.10, 30.0, True)])
def test_lifepo4_rested_voltage_used_only_near_the_ends(cell_v, start, moves):
    est = SocEstimator("lifepo4", 25.6, 200.0, initial_soc=start)
    for _ in range(30):  # 30 minutes of rest for LiFePO4
        e = est.update(60.0, 0.0, 8 * cell_v, "off")
    assert (e.source == "rested_voltage") is moves
    assert (abs(e.soc - start) > 10.0) is moves


def test_rest_under_a_regulating_charger_is_not_ocv():
    est = SocEstimator("flooded", 24, 200.0, initial_soc=50.0)
    for _ in range(200):
        e = est.update(60.0, 0.0, 24.2, "float")  # held at a set point, not resting
    assert e.source == "coulomb"


def test_gap_is_not_integrated_and_widens_the_uncertainty():
    est = SocEstimator("flooded", 24, 200.0, initial_soc=70.0)
    est.update(60.0, -10.0, 24.5, "off")
    before = est.estimate
    e = est.update(3600.0, -10.0, 24.5, "off")  # longer than max_step_s: a gap
    assert e.soc == before.soc
    assert e.uncertainty == pytest.approx(before.uncertainty + 100.0 * 10.0 / 200.0)
    assert est.update(60.0, None, 24.5, "off").soc == before.soc
    assert est.update(float("nan"), -5.0, 24.5, "off").soc == before.soc


def test_unknown_start_says_so():
    e = SocEstimator("gel", 12, 100.0).estimate
    assert (e.soc, e.uncertainty, e.source, e.confidence) == (50.0, 50.0, "initial", "low")
    assert e.metrics() == {"battery_soc": 50.0}


def test_overrides_replace_defaults_and_unknown_ones_fail():
    est = SocEstimator("flooded", 48, 400.0, peukert=1.1, charge_efficiency=0.9, rest_minutes=30)
    assert (est.profile.peukert, est.profile.charge_efficiency) == (1.1, 0.9)
    assert est.profile.rest_minutes == 30 and est.cells == 24
    with pytest.raises(TypeError):
        SocEstimator("flooded", 12, 100.0, no_such_setting=1)
    with pytest.raises(ValueError):
        SocEstimator("flooded", 12, 0.0)


def test_cycle_life_interpolates_in_log_log():
    p = profile("agm")
    assert cycle_life(p, 0.5) == pytest.approx(600.0)
    assert 400.0 < cycle_life(p, 0.65) < 600.0
    assert cycle_life(p, 0.1) > 1500.0  # extended below the table
    assert cycle_life(p, 0.0) == float("inf")
