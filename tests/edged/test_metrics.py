"""The catalogue's bounds and `metrics.check`: every numeric metric is bounded, nothing raises."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edged import metrics
from edged.metrics import CATALOGUE, aggregate, check

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

HOSTILE = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.just(object()),
)


def test_every_numeric_metric_has_ordered_finite_bounds_and_text_metrics_none():
    for metric in CATALOGUE.values():
        if metric.text:
            assert metric.bounds is None, metric.name
            continue
        assert metric.bounds is not None, f"{metric.name} has no bounds"
        low, high = metric.bounds
        assert math.isfinite(low) and math.isfinite(high) and low < high, metric.name


def test_docs_list_every_metric_with_its_bounds():
    text = DOCS.read_text()
    for metric in CATALOGUE.values():
        row = re.search(rf"^\| `{metric.name}` \|.*$", text, re.MULTILINE)
        assert row, f"docs/metrics.md has no row for {metric.name}"
        if metric.bounds is not None:
            low, high = (str(int(b)) if float(b).is_integer() else f"{b:g}" for b in metric.bounds)
            assert f"{low} … {high}" in row.group(0), (metric.name, row.group(0))


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("ac_out_apparent_power", int("9" * 400), metrics.OUT_OF_BOUNDS),
        ("battery_voltage", int("9" * 400), metrics.OUT_OF_BOUNDS),
        ("battery_voltage_2", -90.0, metrics.OUT_OF_BOUNDS),
        ("battery_cycles", 2**64, metrics.OUT_OF_BOUNDS),
        ("pv_power", math.nan, metrics.NOT_FINITE),
        ("battery_current", -math.inf, metrics.NOT_FINITE),
        ("battery_soc", "50", metrics.NOT_NUMERIC),
        ("load_on", True, metrics.NOT_NUMERIC),
        ("battery_soc", None, metrics.NOT_NUMERIC),
        ("charger_state", 3, metrics.NOT_TEXT),
        ("no_such_metric", 1.0, metrics.UNKNOWN_METRIC),
    ],
)
def test_check_refuses_only_the_bad_value(name, value, reason):
    kept, refused = check({"battery_temperature": 25.0, name: value})
    assert kept == {"battery_temperature": 25.0}
    assert [(r.metric, r.reason) for r in refused] == [(name, reason)]
    assert refused[0].value is value


def test_check_keeps_the_bounds_themselves():
    values = {name: m.bounds[i] for i in (0, 1) for name, m in CATALOGUE.items() if m.bounds}
    kept, refused = check(values)
    assert refused == [] and kept == values


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from([*CATALOGUE, "x"]), HOSTILE, max_size=8))
def test_check_never_raises_and_keeps_only_plausible_values(values):
    kept, refused = check(values)
    assert len(kept) + len(refused) == len(values)
    for name, value in kept.items():
        metric = CATALOGUE[name]
        if not metric.text:
            assert metric.bounds[0] <= value <= metric.bounds[1]


@settings(max_examples=300)
@given(st.sampled_from(sorted(CATALOGUE)), st.lists(HOSTILE, min_size=1, max_size=5))
def test_aggregate_never_raises_on_any_window(name, values):
    aggregate(name, values)


def test_aggregate_of_huge_values_falls_back_to_the_last_not_an_overflow():
    assert aggregate("ac_out_apparent_power", [int("9" * 400), 5]) == 5
    assert aggregate("battery_voltage", [12.0, 13.0]) == 12.5
    assert aggregate("battery_voltage", []) is None
