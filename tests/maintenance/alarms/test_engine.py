"""The alarm engine: delay, hysteresis, flapping, clearing, absence rules, built-in table."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from edged.config.alarms import AlarmRuleConfig, AlarmsConfig
from maintenance.alarms.engine import AlarmEngine, Condition, Rule, Severity, render
from maintenance.alarms.overrides import build
from maintenance.alarms.rules import BUILTIN

SOC_LOW = Rule(
    "soc_low",
    "*.battery_soc",
    Condition.BELOW,
    30.0,
    Severity.WARNING,
    clear=40.0,
    delay=60,
    clear_delay=30,
    message_fr="{device} : batterie {value} % (seuil {threshold})",
    message_en="{device}: battery {value} % (limit {threshold})",
)


def feed(engine, source, name, values, start=0.0, step=10.0):
    events = []
    for i, value in enumerate(values):
        events += engine.observe(source, name, value, start + i * step)
    return events


def test_raises_only_after_the_delay_and_says_so_in_both_languages():
    engine = AlarmEngine([SOC_LOW])
    events = feed(engine, "mppt", "battery_soc", [25.0] * 6)  # t = 0..50: not yet 60 s
    assert events == []
    (event,) = engine.observe("mppt", "battery_soc", 24.5, 60.0)
    assert (event.kind, event.alarm_id, event.subject) == ("raised", "soc_low.mppt", "mppt")
    assert event.since == 60.0 and event.severity is Severity.WARNING
    assert event.message_fr == "mppt : batterie 24.5 % (seuil 30)"
    assert event.message_en == "mppt: battery 24.5 % (limit 30)"
    assert event.payload()["active"] is True
    assert engine.active() == ["soc_low.mppt"]


def test_a_dip_shorter_than_the_delay_restarts_it():
    engine = AlarmEngine([SOC_LOW])
    assert feed(engine, "mppt", "battery_soc", [25, 25, 25, 25, 25, 31, 25, 25, 25]) == []


def test_clears_only_past_the_clear_threshold_and_after_the_clear_delay():
    engine = AlarmEngine([SOC_LOW])
    assert [e.kind for e in feed(engine, "mppt", "battery_soc", [20.0] * 7)] == ["raised"]
    # back above 30 but below 40: still active
    assert feed(engine, "mppt", "battery_soc", [35.0, 39.9, 35.0], start=100) == []
    # above 40 for 20 s then below: no clear; then 30 s above 40: cleared
    assert feed(engine, "mppt", "battery_soc", [41, 41, 41, 38], start=200) == []
    events = feed(engine, "mppt", "battery_soc", [41, 41, 41, 41], start=300)
    assert [(e.kind, e.ts, e.since) for e in events] == [("cleared", 330.0, 60.0)]
    payload = events[0].payload()
    assert payload["active"] is False and payload["cleared"] == 330.0
    assert payload["message"].startswith("mppt : batterie 20")  # the raise's message is kept
    assert engine.active() == []


def test_none_and_wrong_types_are_no_evidence():
    engine = AlarmEngine([SOC_LOW])
    assert feed(engine, "mppt", "battery_soc", [25, None, "x", 25, 25, 25]) == []
    (event,) = engine.observe("mppt", "battery_soc", 25, 60.0)
    assert event.kind == "raised"


def test_subjects_are_independent_and_patterns_match_sources():
    rule = Rule("down", "health.openclinic*.status", Condition.EQUALS, "failed")
    engine = AlarmEngine([rule, SOC_LOW])
    assert engine.observe("health.mariadb", "status", "failed", 0) == []
    assert engine.observe("openclinic", "status", "failed", 0) == []  # a device, not health
    (event,) = engine.observe("health.openclinic-main", "status", "failed", 0)
    assert event.alarm_id == "down.openclinic-main"
    assert engine.observe("health.pibox", "battery_soc", 1.0, 1000) == []  # health != device
    (cleared,) = engine.observe("health.openclinic-main", "status", "ok", 5)
    assert cleared.kind == "cleared"


def test_equals_true_and_not_equals_zero():
    undervolt = Rule("uv", "health.pibox.under_voltage_occurred", Condition.EQUALS, True)
    error = Rule("err", "*.charger_error", Condition.NOT_EQUALS, 0.0)
    engine = AlarmEngine([undervolt, error])
    assert engine.observe("health.pibox", "under_voltage_occurred", False, 0) == []
    assert [e.kind for e in engine.observe("health.pibox", "under_voltage_occurred", True, 1)] == [
        "raised"
    ]
    assert engine.observe("mppt", "charger_error", 0, 0) == []
    assert [e.value for e in engine.observe("mppt", "charger_error", 17, 1)] == [17]


def test_device_offline_is_a_state_rule_with_a_delay():
    rule = Rule("offline", "*.state", Condition.EQUALS, "offline", delay=300)
    engine = AlarmEngine([rule])
    assert feed(engine, "mppt", "state", ["ok", "stale", "offline", "offline"], step=60) == []
    (event,) = engine.observe("mppt", "state", "offline", 420.0)
    assert event.kind == "raised" and event.since == 420.0
    assert [e.kind for e in engine.observe("mppt", "state", "ok", 500.0)] == ["cleared"]


def utc(hour: int, minute: int = 0) -> float:
    return dt.datetime(2025, 3, 1, hour, minute, tzinfo=dt.UTC).timestamp()


def test_no_pv_counts_only_daylight_hours_and_only_while_the_device_is_ok():
    rule = Rule(
        "no_pv",
        "*.pv_power",
        Condition.BELOW,
        5.0,
        clear=20.0,
        delay=3600,
        hours=(8, 17),
        requires_ok=True,
    )
    engine = AlarmEngine([rule], timezone="Africa/Bamako")
    engine.observe("mppt", "state", "ok", utc(5))
    # a whole night of zero does nothing, and the delay restarts at 8:00
    assert feed(engine, "mppt", "pv_power", [0.0] * 12, start=utc(5), step=600) == []
    assert engine.observe("mppt", "pv_power", 0.0, utc(8, 0)) == []
    assert engine.observe("mppt", "pv_power", 0.0, utc(8, 59)) == []
    (event,) = engine.observe("mppt", "pv_power", 0.0, utc(9, 1))
    assert event.kind == "raised"
    # an offline device is not evaluated: no clear from a stale zero, no new raise
    engine.observe("mppt", "state", "offline", utc(10))
    assert engine.observe("mppt", "pv_power", 100.0, utc(10, 5)) == []
    engine.observe("mppt", "state", "ok", utc(11))
    assert [e.kind for e in engine.observe("mppt", "pv_power", 100.0, utc(11, 5))] == ["cleared"]


def test_restored_alarm_is_not_raised_again_and_clears_with_its_message():
    engine = AlarmEngine([SOC_LOW])
    engine.restore("soc_low", "mppt", 5.0, "ancien", "old")
    assert feed(engine, "mppt", "battery_soc", [10.0] * 10) == []
    (event,) = feed(engine, "mppt", "battery_soc", [50.0] * 4, start=500)
    assert (event.kind, event.since, event.message_fr) == ("cleared", 5.0, "ancien")


def test_render_leaves_unknown_placeholders_and_stray_braces():
    assert render("{device} {nope} {value}", device="a", value=1.5) == "a {nope} 1.5"
    assert render("oops {", device="a") == "oops {"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=40.0001, max_value=100.0), max_size=60),
    st.lists(st.floats(min_value=-0.5, max_value=0.5), min_size=1, max_size=60),
)
def test_a_value_oscillating_around_the_threshold_raises_at_most_once(highs, wiggles):
    """Around 30 %, never back above the clear threshold (40 %): one alarm at most, no clear."""
    engine = AlarmEngine([SOC_LOW])
    values = [30.0 + w for w in wiggles]
    events = feed(engine, "mppt", "battery_soc", values, step=7.0)
    assert len(events) <= 1 and all(e.kind == "raised" for e in events)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats(0, 100, allow_nan=False)), max_size=80),
    st.floats(min_value=1.0, max_value=30.0),
)
def test_events_alternate_and_each_raise_held_for_the_delay(values, step):
    engine = AlarmEngine([SOC_LOW])
    events, below_since = [], None
    for i, value in enumerate(values):
        now = i * step
        if isinstance(value, float):
            below_since = (below_since if below_since is not None else now) if value < 30 else None
        for event in engine.observe("mppt", "battery_soc", value, now):
            events.append(event)
            if event.kind == "raised":
                assert below_since is not None and now - below_since >= SOC_LOW.delay
    kinds = [e.kind for e in events]
    assert kinds == ["raised", "cleared"] * (len(kinds) // 2) + ["raised"] * (len(kinds) % 2)


def test_builtin_table_covers_the_technicians_list():
    ids = {rule.id for rule in BUILTIN}
    assert ids == {
        "battery_soc_low",
        "battery_soc_critical",
        "battery_over_temperature",
        "charger_error",
        "charger_fault",
        "no_pv_daylight",
        "device_offline",
        "pibox_disk_full",
        "pibox_undervoltage",
        "openclinic_down",
        "equipment_unseen",
        "data_budget",
        "power_saving",
        "power_services_stopped",
        "job_overdue",
        "storage_failed",
        "database_recovered",
    }
    for rule in BUILTIN:
        assert rule.message_fr and rule.message_en, rule.id
        if rule.clear is not None:  # hysteresis on the recovering side of the threshold
            assert (rule.clear > rule.threshold) == (rule.condition is Condition.BELOW), rule.id


def test_build_applies_overrides_disables_and_adds_custom_rules():
    config = AlarmsConfig(
        daylight_hours=(7, 18),
        overrides=(
            AlarmRuleConfig("battery_soc_low", threshold=35, delay=0, severity="critical"),
            AlarmRuleConfig("data_budget", enabled=False),
        ),
        rules=(
            AlarmRuleConfig(
                "hot_box",
                target="health.pibox.cpu_temperature",
                condition="above",
                threshold=75.0,
                clear=70.0,
            ),
        ),
    )
    rules = {rule.id: rule for rule in build(config)}
    assert "data_budget" not in rules
    low = rules["battery_soc_low"]
    assert (low.threshold, low.delay, low.severity, low.clear) == (35.0, 0, Severity.CRITICAL, 40.0)
    assert rules["no_pv_daylight"].hours == (7, 18)
    hot = rules["hot_box"]
    (event,) = AlarmEngine([hot]).observe("health.pibox", "cpu_temperature", 80.0, 0)
    assert event.message_en == "pibox: health.pibox.cpu_temperature above 75 (value 80)."


def test_every_builtin_alarm_is_documented_with_its_threshold():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "alarms.md").read_text()
    for rule in BUILTIN:
        row = next((ln for ln in doc.splitlines() if ln.startswith(f"| `{rule.id}` | `")), "")
        threshold = rule.threshold
        shown = f"{threshold:g}" if isinstance(threshold, float) else str(threshold).lower()
        assert shown in row and f"`{rule.target}`" in row, f"docs/alarms.md: {rule.id}"


def test_a_clock_jump_neither_shortens_nor_stretches_a_delay():
    rule = Rule("offline", "*.state", Condition.EQUALS, "offline", delay=300)
    for jump in (86400.0, -86400.0):  # NTP after a slow or a fast fake-hwclock
        engine = AlarmEngine([rule])
        assert engine.observe("mppt", "state", "offline", 1000.0) == []
        engine.clock_jumped(jump)
        assert engine.observe("mppt", "state", "offline", 1000.0 + jump + 10) == []  # 10 s in
        [event] = engine.observe("mppt", "state", "offline", 1000.0 + jump + 300)
        assert event.kind == "raised"
