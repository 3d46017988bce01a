"""Verdict -> pattern: every condition gives its pattern, the worst wins, the buzzer stops when
someone on site acknowledged; presses are judged short, long or bounce."""

from __future__ import annotations

import pytest

from edged.indicators.patterns import (
    PATTERNS,
    RULE_CONDITION,
    ActiveAlarm,
    Condition,
    Facts,
    Light,
    Pattern,
    conditions,
    pattern,
    verdict,
)
from edged.indicators.press import Press, PressJudge
from maintenance.alarms.rules import BUILTIN_IDS
from maintenance.energy.policy import JobKind
from maintenance.energy.shedding import Level


def alarm(rule: str, severity: str = "warning", subject: str = "mppt") -> ActiveAlarm:
    return ActiveAlarm(f"{rule}.{subject}", rule, severity)


CASES = [
    (Facts(), Condition.ALL_WELL, Pattern(green=Light.ON)),
    (Facts(shedding=Level.WARN), Condition.SAVING_ENERGY, Pattern(amber=Light.ON)),
    (Facts((alarm("battery_soc_low"),)), Condition.SAVING_ENERGY, Pattern(amber=Light.ON)),
    (Facts(jobs_running=(JobKind.BACKUP,)), Condition.JOB_RUNNING, Pattern(amber=Light.BLINK)),
    (Facts(jobs_running=(JobKind.SYNC,)), Condition.JOB_RUNNING, Pattern(amber=Light.BLINK)),
    (Facts((alarm("device_offline"),)), Condition.TECHNICIAN, Pattern(red=Light.ON)),
    (
        Facts(
            (alarm("openclinic_down", "critical", "openclinic"),),
            acknowledged=frozenset({"openclinic_down.openclinic"}),
        ),
        Condition.TECHNICIAN,
        Pattern(red=Light.ON),
    ),
    (Facts(shedding=Level.STOP_SERVICES), Condition.CRITICAL, Pattern(red=Light.BLINK)),
    (Facts(shedding=Level.SHUTDOWN), Condition.CRITICAL, Pattern(red=Light.BLINK)),
    (
        Facts((alarm("battery_soc_critical", "critical"),)),
        Condition.CRITICAL,
        Pattern(red=Light.BLINK, buzzer=Light.BEEP),
    ),
]


@pytest.mark.parametrize(("facts", "condition", "shown"), CASES)
def test_every_verdict_gives_its_pattern(facts, condition, shown):
    assert verdict(facts) is condition
    assert pattern(facts) == shown


def test_the_report_job_is_not_a_reason_not_to_unplug():
    assert verdict(Facts(jobs_running=(JobKind.REPORT,))) is Condition.ALL_WELL


def test_the_worst_wins_and_every_condition_is_listed_worst_first():
    facts = Facts(
        (alarm("battery_soc_low"), alarm("charger_error")),
        shedding=Level.WARN,
        jobs_running=(JobKind.BACKUP,),
    )
    assert conditions(facts) == [
        Condition.TECHNICIAN,
        Condition.JOB_RUNNING,
        Condition.SAVING_ENERGY,
    ]
    assert pattern(facts) == PATTERNS[Condition.TECHNICIAN]
    worse = Facts((*facts.alarms, alarm("battery_soc_critical", "critical")), Level.WARN)
    assert verdict(worse) is Condition.CRITICAL


def test_each_pattern_is_distinct_and_stopped_is_all_dark():
    shown = list(PATTERNS.values())
    assert len(set(shown)) == len(shown)
    assert PATTERNS[Condition.STOPPED] == Pattern()


def test_every_built_in_rule_has_a_condition_and_a_site_rule_follows_its_severity():
    assert set(RULE_CONDITION) == set(BUILTIN_IDS)
    assert verdict(Facts((alarm("fridge_warm", "critical", "fridge"),))) is Condition.CRITICAL
    assert verdict(Facts((alarm("fridge_warm", "warning", "fridge"),))) is Condition.TECHNICIAN


def test_the_buzzer_beeps_until_every_critical_alarm_is_acknowledged():
    a, b = alarm("battery_soc_critical", "critical", "bmv"), alarm("storage_failed", "critical")
    assert pattern(Facts((a, b))).buzzer is Light.BEEP
    assert pattern(Facts((a, b), acknowledged=frozenset({a.alarm_id}))).buzzer is Light.OFF
    c = alarm("battery_over_temperature", "critical", "bmv")
    assert pattern(Facts((a, c), acknowledged=frozenset({a.alarm_id}))).buzzer is Light.BEEP


def test_presses_short_long_and_bounce():
    judge = PressJudge(long_press=2.0)
    assert judge.edge(True, 10.0) is None
    assert judge.edge(False, 10.3) is Press.SHORT
    judge.edge(True, 20.0)
    assert judge.edge(False, 22.5) is Press.LONG
    for t in (30.0, 30.01, 30.02):  # contact chatter: presses of 5 ms
        judge.edge(True, t)
        assert judge.edge(False, t + 0.005) is None
    assert judge.bounces == 3
    assert judge.edge(False, 40.0) is None  # a release with no press seen


def test_a_press_held_through_chatter_counts_from_its_first_edge():
    judge = PressJudge(long_press=2.0)
    judge.edge(True, 1.0)
    judge.edge(True, 1.001)  # a second "pressed" edge of the same press
    assert judge.edge(False, 3.5) is Press.LONG
