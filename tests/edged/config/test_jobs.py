"""`[[jobs]]`: validated into the `JobConfig`s the daemon runs (edged/config/jobs.py), every
problem named with its key path. The full example and the voltages' placement are in
tests/edged/config/test_power.py."""

from __future__ import annotations

import pytest

from tests.edged.config.test_power import CAP, JOB, problems


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"jobs": {"name": "b"}}, "jobs: expected an array of tables ([[jobs]])"),
        ({"jobs": [3], "power": CAP}, "jobs[0]: expected a table, got an integer"),
        ({"jobs": [{**JOB, "kind": "copy"}], "power": CAP}, "jobs[0].kind: expected one of"),
        ({"jobs": [{**JOB, "name": "B b"}], "power": CAP}, "jobs[0].name: expected only"),
        ({"jobs": [JOB, JOB], "power": CAP}, "jobs[1].name: expected a unique job name"),
        ({"jobs": [{**JOB, "command": []}], "power": CAP}, "jobs[0].command: required"),
        ({"jobs": [{**JOB, "command": ["a", 1]}], "power": CAP}, "jobs[0].command: expected an"),
        ({"jobs": [{**JOB, "kind": "report"}], "power": CAP}, "jobs[0].command: expected none"),
        ({"jobs": [{**JOB, "max_duration": -1}], "power": CAP}, "jobs[0].max_duration: expected"),
        ({"jobs": [{**JOB, "energy_wh": 3}], "power": CAP}, "jobs[0].power_w: expected exactly"),
        ({"jobs": [{**JOB, "windows": []}], "power": CAP}, "jobs[0].windows: expected a non-"),
        ({"jobs": [{**JOB, "windows": [["9:00", "9:00"]]}], "power": CAP}, "jobs[0].windows[0]"),
        ({"jobs": [{**JOB, "min_soc": 101}], "power": CAP}, "jobs[0].min_soc: expected a state"),
        ({"jobs": [{**JOB, "min_interval": 9e4}], "power": CAP}, "jobs[0].min_interval: expected"),
        ({"jobs": [{**JOB, "on_low_battery": "kill"}], "power": CAP}, "jobs[0].on_low_battery"),
        ({"jobs": [{**JOB, "env": {"A": 1}}], "power": CAP}, "jobs[0].env: expected a table"),
        ({"jobs": [{**JOB, "shell": True}], "power": CAP}, "jobs[0].shell: unknown key"),
    ],
)
def test_each_job_problem_is_named_with_its_key_path(raw, expected):
    found = problems(raw)
    assert any(line.startswith(expected) for line in found), found


def test_policy_consistency_errors_become_problems_at_the_job():
    job = {**JOB, "min_soc": 30, "urgent_min_soc": 50}
    assert problems({"jobs": [job], "power": CAP}) == [
        "jobs[0]: job 'b': urgent_min_soc must not be above min_soc"
    ]


def test_a_stray_value_and_a_reused_name_are_each_said_and_the_rest_still_judged():
    found = problems({"jobs": ["backup", JOB, {**JOB, "max_duration": 0}, JOB], "power": CAP})
    assert found == [
        "jobs[0]: expected a table, got a string",
        "jobs[2].max_duration: expected a positive number, got 0",
        "jobs[2].name: expected a unique job name, 'b' is used twice",
        "jobs[3].name: expected a unique job name, 'b' is used twice",
    ]
    vedirect = {"driver": "vedirect", "port": "/dev/ttyUSB0"}
    found = problems({"devices": [7, {**vedirect, "id": "m"}, {**vedirect, "id": "m"}]})
    assert found[:2] == [
        "devices[0]: expected a table, got an integer",
        "devices[2].id: expected a unique device id, 'm' is used twice",
    ]
