"""The outputs: a fake /sys/class/leds tree and gpiozero's mock pins. Hostile cases: a LED that
vanishes or cannot be written, a pin the board does not have: counted, logged, the rest works."""

from __future__ import annotations

import logging
import os
import shutil

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edged.config.leds import LedsConfig
from edged.indicators.board import Board, outputs
from edged.indicators.patterns import PATTERNS, Condition, Light, Pattern
from tests.edged.indicators.fakesys import board_state, make_leds
from tests.peers.replay import wait_until

ON, OFF = ("none", "255"), ("none", "0")


@pytest.fixture
def mock_pins():
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = None


def sysfs_board(root) -> Board:
    config = LedsConfig(
        backend="sysfs", green="green", amber="amber", red="red", sysfs_root=str(root)
    )
    return Board(outputs(config))


def test_sysfs_steady_and_kernel_timer_blink(tmp_path):
    root = make_leds(tmp_path / "leds")
    board = sysfs_board(root)
    board.show(PATTERNS[Condition.ALL_WELL])
    assert board_state(root) == {"green": ON, "amber": OFF, "red": OFF}
    board.show(PATTERNS[Condition.CRITICAL])
    assert board_state(root)["red"][0] == "timer"
    assert (root / "red" / "delay_on").read_text() == "500"
    assert board_state(root)["green"] == OFF
    assert not board.software_blink  # the kernel blinks it
    board.show(PATTERNS[Condition.STOPPED])
    assert board_state(root) == {"green": OFF, "amber": OFF, "red": OFF}


def test_sysfs_without_timer_trigger_blinks_when_toggled(tmp_path):
    root = make_leds(tmp_path / "leds", timer=False)
    board = sysfs_board(root)
    board.show(PATTERNS[Condition.JOB_RUNNING])
    assert board.software_blink
    first = board_state(root)["amber"]
    board.show(PATTERNS[Condition.JOB_RUNNING])  # the main loop's refresh: no change
    assert board_state(root)["amber"] == first
    seen = set()
    for _ in range(4):
        board.show(PATTERNS[Condition.JOB_RUNNING], toggle=True)  # the guard, every second
        seen.add(board_state(root)["amber"])
    assert seen == {ON, OFF}


def test_a_vanished_led_is_counted_logged_once_and_back_when_it_returns(tmp_path, caplog):
    root = make_leds(tmp_path / "leds")
    board = sysfs_board(root)
    board.show(PATTERNS[Condition.ALL_WELL])
    shutil.rmtree(root / "red")
    caplog.set_level(logging.WARNING)
    board.show(PATTERNS[Condition.TECHNICIAN])
    board.show(PATTERNS[Condition.TECHNICIAN])
    assert board.errors == {"green": 0, "amber": 0, "red": 2}
    assert board.view()["failing"] == ["red"]
    assert sum("status red" in r.getMessage() for r in caplog.records) == 1
    assert board_state(root, ("green", "amber")) == {"green": OFF, "amber": OFF}
    make_leds(root, ("red",))
    board.show(PATTERNS[Condition.TECHNICIAN])
    assert board_state(root, ("red",)) == {"red": ON}
    assert board.view()["failing"] == []


def test_an_unwritable_led_is_counted_and_the_others_still_work(tmp_path):
    root = make_leds(tmp_path / "leds")
    brightness = root / "green" / "brightness"
    if os.geteuid() == 0:  # root writes through file modes: a directory refuses any write
        brightness.unlink()
        brightness.mkdir()
    else:
        brightness.chmod(0o444)
    board = sysfs_board(root)
    board.show(PATTERNS[Condition.SAVING_ENERGY])
    board.show(PATTERNS[Condition.ALL_WELL])
    assert board.errors["green"] == 2
    assert board_state(root, ("amber", "red")) == {"amber": OFF, "red": OFF}


def test_a_led_that_never_existed_is_counted(tmp_path):
    root = make_leds(tmp_path / "leds", ("green",))
    board = sysfs_board(root)
    board.show(PATTERNS[Condition.ALL_WELL])
    assert board.errors == {"green": 0, "amber": 1, "red": 1}
    assert board_state(root, ("green",)) == {"green": ON}


def test_gpio_leds_and_buzzer_on_mock_pins(mock_pins):
    config = LedsConfig(green="GPIO17", amber="GPIO27", red="GPIO22", buzzer="GPIO23")
    board = Board(outputs(config))
    board.show(PATTERNS[Condition.ALL_WELL])
    pins = {n: mock_pins.pin(n) for n in ("GPIO17", "GPIO27", "GPIO22", "GPIO23")}
    assert [p.state for p in pins.values()] == [1, 0, 0, 0]
    board.show(Pattern(red=Light.BLINK, buzzer=Light.BEEP))
    wait_until(lambda: len(pins["GPIO22"].states) >= 4, 10, what="red pin blinking")
    wait_until(lambda: len(pins["GPIO23"].states) >= 3, 10, what="buzzer beeping")
    assert pins["GPIO17"].state == 0
    board.show(PATTERNS[Condition.STOPPED])
    board.close()
    assert all(p.function == "input" for p in pins.values())  # released: dark


def test_a_pin_the_board_does_not_have_is_counted_and_the_others_work(mock_pins, caplog):
    config = LedsConfig(green="GPIO17", amber="GPIO40", red="GPIO22")
    board = Board(outputs(config))
    caplog.set_level(logging.WARNING)
    board.show(PATTERNS[Condition.TECHNICIAN])
    board.show(PATTERNS[Condition.TECHNICIAN])
    assert board.errors == {"green": 0, "amber": 2, "red": 0}
    assert mock_pins.pin("GPIO22").state == 1
    assert sum("GPIO40" in r.getMessage() for r in caplog.records) == 1
    board.close()
