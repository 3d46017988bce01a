"""`[shedding]`: validated into the `SheddingConfig` the daemon runs (edged/config/shedding.py),
every problem named with its key path."""

from __future__ import annotations

import pytest

from edged.config.loader import parse
from edged.config.shedding import SheddingConfig
from maintenance.energy.shedding import SheddingThresholds, Threshold, lead_acid_volts
from tests.edged.config.test_power import BANK, FULL, MPPT, load_text, problems


def test_full_config_builds_the_shedding_thresholds_at_the_bank_nominal_voltage():
    shed = load_text(FULL).shedding
    default = SheddingThresholds()
    assert shed == SheddingConfig(
        policy=SheddingThresholds(
            warn=Threshold(35.0, 45.0, {24: 23.8}, {24: 25.0}),
            stop_services=Threshold(20.0, 30.0, {24: 23.4}, default.stop_services.recover_voltage),
            shutdown=Threshold(12.0, 25.0, {24: 23.0}, lead_acid_volts(25.0)),
            protection_voltage={24: 22.2},
            protection_margin_v={24: 0.6},
        ),
        enabled=True,
        services=("openclinic", "mariadb.service"),
        stop_command=("sh", "-c", "systemctl stop {service}"),
        start_command=("systemctl", "start", "{service}"),
        shutdown_command=("systemctl", "poweroff"),
        command_timeout=60.0,
    )


def test_shutdown_defaults_follow_its_soc():
    shed = parse({"site": {"id": "x"}, "shedding": {"shutdown_soc": 10}}).shedding.policy
    assert shed.shutdown == Threshold(10.0, 20.0, lead_acid_volts(10.0), lead_acid_volts(20.0))


def test_protection_margin_is_placed_like_the_protection_voltage():
    shed = parse(
        {"site": {"id": "x"}, "shedding": {"protection_voltage": 22.2, "protection_margin": 0.6}}
    ).shedding.policy
    assert (shed.protection_voltage, shed.protection_margin_v) == ({24: 22.2}, {24: 0.6})
    shed = parse({"site": {"id": "x"}, "shedding": {"protection_margin": 0.4}}).shedding.policy
    assert shed.protection_margin_v == {12: 0.4}
    with_bank = {"site": {"id": "x"}, "devices": [MPPT], "batteries": [BANK]}
    shed = parse({**with_bank, "shedding": {"protection_margin": 1.2}}).shedding.policy
    assert shed.protection_margin_v == {48: 1.2}  # the bank's nominal voltage, not 12 V


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"shedding": []}, "shedding: expected a table, got an array"),
        ({"shedding": {"warn_soc": -1}}, "shedding.warn_soc: expected a state of charge"),
        ({"shedding": {"warn_recover_soc": 25}}, "shedding.warn_recover_soc: expected above"),
        ({"shedding": {"stop_soc": 35}}, "shedding.stop_soc: expected below stop_recover_soc"),
        (
            {"shedding": {"stop_voltage": 11.9, "stop_recover_voltage": 11.8}},
            "shedding.stop_recover_voltage: expected above stop_voltage (11.9)",
        ),
        ({"shedding": {"shutdown_voltage": 11.5}}, "shedding.shutdown_voltage: expected only"),
        ({"shedding": {"services": ["a b"]}}, "shedding.services: expected systemd unit names"),
        ({"shedding": {"stop_command": ["stop"]}}, 'shedding.stop_command: expected "{service}"'),
        ({"shedding": {"shutdown_command": []}}, "shedding.shutdown_command: expected a non-"),
        ({"shedding": {"enabled": 1}}, "shedding.enabled: expected true or false"),
        ({"shedding": {"level": 1}}, "shedding.level: unknown key"),
    ],
)
def test_each_shedding_problem_is_named_with_its_key_path(raw, expected):
    found = problems(raw)
    assert any(line.startswith(expected) for line in found), found


def test_policy_consistency_errors_become_problems_at_the_table():
    shed = {"warn_soc": 15, "shutdown_soc": 5, "protection_voltage": 11.6}
    # Both problems, each with its key path (the order of levels once hid the rest).
    assert problems({"shedding": shed}) == [
        "shedding.warn_soc: expected above stop_soc (20), got 15",
        "shedding.shutdown_soc: expected a shutdown voltage above protection_voltage (11.6 V),"
        " got 11.42 V",
    ]
    shed = {"warn_soc": 30, "stop_soc": 35, "stop_recover_soc": 45, "command_timeout": -1}
    assert problems({"shedding": shed}) == [
        "shedding.command_timeout: expected a positive number, got -1",
        "shedding.stop_soc: expected below warn_soc (30), got 35",
    ]


def test_a_typo_is_not_reported_twice_as_a_threshold_clash():
    # warn_soc is unusable: its recovery is not then judged against the default warn_soc
    assert problems({"shedding": {"warn_soc": "low", "warn_recover_soc": 25}}) == [
        "shedding.warn_soc: expected a number, got a string 'low'"
    ]
