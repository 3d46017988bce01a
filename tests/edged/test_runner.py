"""The runner checks every driver's values against the catalogue and survives driver bugs.

A scripted driver (a real `Driver`, no I/O) stands in for a device: these are the runner's own
rules, independent of any protocol; tests/test_faults_inputs.py drives the real daemon.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from drivers.base import Counters, DeviceUnavailable
from edged import runner as runner_module
from edged.clock import ClockWatch
from edged.config.devices import DeviceConfig
from edged.readings import DeviceState, Reading, Sample
from edged.runner import DeviceRunner

DEADLINE = 30.0


class ScriptedDriver:
    """Answers each `read` with the next step: a list of readings, or an exception to raise."""

    def __init__(self, steps: list[Any], then: Callable[[], list[Reading]] = list) -> None:
        self.counters = Counters()
        self.info: dict[str, str] = {}
        self.steps, self.then = list(steps), then
        self.opens = self.closes = 0

    def open(self) -> None:
        self.opens += 1

    def read(self, deadline: float) -> list[Reading]:
        step = self.steps.pop(0) if self.steps else None
        if isinstance(step, BaseException):
            raise step
        time.sleep(0.01)
        return step if step is not None else self.then()

    def close(self) -> None:
        self.closes += 1


def _runner(driver: ScriptedDriver, **timing: float) -> tuple[DeviceRunner, list, dict]:
    device = DeviceConfig(
        "dev",
        "scripted",
        timing.get("interval", 0.01),
        timing.get("stale", 60.0),
        timing.get("offline", 120.0),
        {},
    )
    samples: list[Sample] = []
    states: dict[str, DeviceState] = {}
    runner = DeviceRunner(
        device,
        driver,
        push=False,
        on_sample=samples.append,
        on_state=lambda device, state, _changed: states.update({device: state}),
        clock=ClockWatch(flag_path="/nonexistent"),
        stop=threading.Event(),
    )
    return runner, samples, states


def _liveness(states: dict[str, DeviceState]) -> str | None:
    """The device's last reported liveness, None before its first state."""
    state = states.get("dev")
    return state.liveness.value if state is not None else None


def _wait(condition: Callable[[], bool]) -> None:
    end = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.02)


def test_refused_values_are_counted_and_never_handed_on(caplog):
    crafted = Reading({"battery_voltage": int("9" * 400), "pv_power": float("nan"), "load_on": 1})
    driver = ScriptedDriver([[crafted]] * 3)
    runner, samples, _ = _runner(driver)
    caplog.set_level(logging.INFO, logger="edged.runner")
    runner.stop.set()
    for _ in range(3):
        runner._read_once()
        runner.last_accept = -1e18  # each read may make a sample
    assert [s.metrics for s in samples] == [{"load_on": 1}] * 3
    counters = runner.snapshot(runner.reported).counters
    assert counters["rejected_out_of_bounds"] == 3 and counters["rejected_not_finite"] == 3
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 2, refused  # once per (device, metric) burst, not once per value
    assert any("battery_voltage value 9999" in m and "..." in m for m in refused)
    assert any("pv_power value nan" in m for m in refused)
    assert runner_module._quoted(10**5000) == "<int of 16610 bits>"  # past the repr limit


def test_a_reading_of_nothing_but_refused_values_is_not_a_good_read():
    driver = ScriptedDriver([[Reading({"battery_voltage": -5.0})]])
    runner, samples, _ = _runner(driver)
    runner._read_once()
    assert samples == [] and runner.last_good is None


def test_a_burst_ends_when_the_metric_is_plausible_again(caplog):
    good, bad = Reading({"battery_voltage": 12.5}), Reading({"battery_voltage": 5000.0})
    driver = ScriptedDriver([[bad], [bad], [good], [bad]])
    runner, _, _ = _runner(driver)
    caplog.set_level(logging.INFO, logger="edged.runner")
    for _ in range(4):
        runner._read_once()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("refused" in m for m in messages) == 2
    assert sum("plausible again" in m for m in messages) == 1


def test_a_driver_bug_is_counted_logged_once_and_the_device_reopened_not_dead(caplog):
    good = [Reading({"battery_voltage": 12.5})]
    bugs: list[Any] = [OverflowError("int too large"), KeyError("x"), RuntimeError("bug")]
    driver = ScriptedDriver([good, *bugs, DeviceUnavailable("gone")], then=lambda: good)
    runner, samples, _ = _runner(driver)
    caplog.set_level(logging.INFO, logger="edged.runner")
    runner.start()
    try:
        _wait(lambda: len(samples) >= 3 and runner.driver_errors == 3)
        assert runner.is_alive()
    finally:
        runner.stop.set()
        runner.join(DEADLINE)
    assert driver.opens >= 5 and driver.closes >= 4  # reopened after each bug
    assert runner.snapshot(runner.reported).counters["driver_errors"] == 3
    tracebacks = [r for r in caplog.records if r.exc_info and "driver bug" in r.getMessage()]
    assert len(tracebacks) == 1  # once per burst, with its traceback
    assert "OverflowError" in caplog.text


def test_a_driver_that_always_raises_goes_stale_then_offline_and_the_thread_lives():
    driver = ScriptedDriver([[Reading({"battery_voltage": 12.5})]], then=_always_raise)
    runner, _, states = _runner(driver, interval=0.05, stale=1.0, offline=2.0)
    runner.start()
    try:
        _wait(lambda: _liveness(states) == "ok")
        _wait(lambda: _liveness(states) == "stale")
        _wait(lambda: _liveness(states) == "offline")
        assert runner.is_alive() and runner.driver_errors >= 2
    finally:
        runner.stop.set()
        runner.join(DEADLINE)


def test_a_driver_bug_in_close_after_a_read_bug_is_counted_and_the_thread_lives():
    class BrokenClose(ScriptedDriver):
        def close(self) -> None:
            super().close()
            raise AttributeError("close of a half-built port")

    driver = BrokenClose([[Reading({"battery_voltage": 12.5})]], then=_always_raise)
    runner, _, _ = _runner(driver, interval=0.05)
    runner.start()
    try:
        _wait(lambda: runner.driver_errors >= 4)  # read and close bugs, over and over
        assert runner.is_alive()
    finally:
        runner.stop.set()
        runner.join(DEADLINE)
    assert not runner.is_alive()


def test_a_driver_bug_in_open_is_counted_and_retried():
    class BrokenOpen(ScriptedDriver):
        def open(self) -> None:
            super().open()
            if self.opens < 3:
                raise TypeError("bad option")

    driver = BrokenOpen([], then=lambda: [Reading({"battery_voltage": 12.5})])
    runner, samples, _ = _runner(driver)
    runner.start()
    try:
        _wait(lambda: bool(samples))
    finally:
        runner.stop.set()
        runner.join(DEADLINE)
    assert runner.driver_errors == 2


def _always_raise() -> list[Reading]:
    raise ZeroDivisionError("driver bug")
