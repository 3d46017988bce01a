"""The service: the button acknowledges through the database, a long press replays the verdict,
a main loop that stops refreshing turns the LEDs to "stopped"."""

from __future__ import annotations

import time

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edged.config.leds import LedsConfig
from edged.indicators.patterns import ActiveAlarm, Condition, Facts
from edged.indicators.service import IndicatorService, build
from telemetry.rows import AlarmRaised
from telemetry.writer import Writer
from tests.edged.indicators.fakesys import board_state, make_leds
from tests.peers.daemon import db_rows
from tests.peers.replay import wait_until

PINS = {"green": "GPIO17", "amber": "GPIO27", "red": "GPIO22", "buzzer": "GPIO23"}
CRITICAL = ActiveAlarm("battery_soc_critical.bmv", "battery_soc_critical", "critical")
LOW = ActiveAlarm("battery_soc_low.bmv", "battery_soc_low", "warning")


@pytest.fixture
def mock_pins():
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = None


@pytest.fixture
def writer(tmp_path):
    w = Writer(tmp_path / "edged.db", publish_interval=60.0, commit_interval=3600.0)
    w.start()
    yield w
    w.stop()


def raise_alarm(writer: Writer, alarm: ActiveAlarm) -> None:
    subject = alarm.alarm_id.split(".", 1)[1]
    writer.put_row(
        AlarmRaised(
            alarm.alarm_id, alarm.rule, subject, alarm.severity, time.time(), "fr", "en", "12"
        )
    )


def gpio_service(writer, facts, long_press=5.0) -> IndicatorService:
    config = LedsConfig(**PINS, button="GPIO24", long_press=long_press)
    return build(config, writer, facts)


def press(pin, seconds: float) -> None:
    pin.drive_low()  # the button shorts the pin to ground
    time.sleep(seconds)
    pin.drive_high()


def lit(mock_pins) -> dict[str, int]:
    return {role: mock_pins.pin(pin).state for role, pin in PINS.items()}


def test_a_short_press_acknowledges_through_the_database_and_silences_the_buzzer(mock_pins, writer):
    raise_alarm(writer, CRITICAL)  # not committed yet: the press commits and acknowledges it
    raise_alarm(writer, LOW)
    service = gpio_service(writer, lambda: Facts((CRITICAL, LOW)))
    service.start()
    buzzer = mock_pins.pin(PINS["buzzer"])
    wait_until(lambda: len(buzzer.states) >= 3, 10, what="the buzzer beeping")
    press(mock_pins.pin("GPIO24"), 0.2)
    sql = "SELECT alarm_id, acked_by FROM alarms WHERE acked_at IS NOT NULL ORDER BY alarm_id"
    wait_until(lambda: len(db_rows(writer.path, sql)) == 2, 20, what="both alarms acknowledged")
    assert db_rows(writer.path, sql) == [
        ("battery_soc_critical.bmv", "bouton"),
        ("battery_soc_low.bmv", "bouton"),
    ]
    # the rows are visible once committed, a moment before the press handler counts its ack
    wait_until(lambda: service.counts["acks"] == 1, 20, what="the press handler done")
    service.refresh()
    assert buzzer.state == 0
    time.sleep(0.5)
    assert buzzer.state == 0  # silent: no more beeps
    service.stop()


def test_an_ack_written_by_edged_alarms_ack_silences_the_buzzer_too(mock_pins, writer):
    raise_alarm(writer, CRITICAL)
    writer.flush()
    writer.call(lambda db: db.execute("UPDATE alarms SET acked_at = 1, acked_by = 'awa'"))
    service = gpio_service(writer, lambda: Facts((CRITICAL,)))
    service.start()  # reads the acknowledgements first
    assert mock_pins.pin(PINS["buzzer"]).state == 0
    assert service.condition is Condition.CRITICAL
    service.stop()


def test_chatter_on_the_button_acknowledges_nothing(mock_pins, writer):
    raise_alarm(writer, LOW)
    service = gpio_service(writer, lambda: Facts((LOW,)))
    service.start()
    pin = mock_pins.pin("GPIO24")
    for _ in range(5):
        pin.drive_low()
        pin.drive_high()  # microseconds: contact bounce, not a press
    time.sleep(0.5)
    assert service.counts["acks"] == 0
    assert db_rows(writer.path, "SELECT 1 FROM alarms WHERE acked_at IS NOT NULL") == []
    service.stop()


def test_a_long_press_replays_the_verdict_with_a_lamp_test(mock_pins, writer):
    service = gpio_service(writer, lambda: Facts((LOW,)), long_press=0.3)
    service.start()
    assert lit(mock_pins) == {"green": 0, "amber": 1, "red": 0, "buzzer": 0}
    press(mock_pins.pin("GPIO24"), 0.6)
    wait_until(lambda: service.counts["replays"] == 1, 10, what="a replay")
    # the lamp test lasts 1.5 s: the pins' history shows it whatever the timing
    for role in ("green", "red"):
        wait_until(
            lambda r=role: any(s.state for s in mock_pins.pin(PINS[r]).states[1:]),
            10,
            what=f"{role} lit by the lamp test",
        )
    wait_until(lambda: not service._replaying, 20, what="the replay's end")
    service.refresh()
    assert lit(mock_pins) == {"green": 0, "amber": 1, "red": 0, "buzzer": 0}
    assert service.counts["acks"] == 0
    service.stop()


def test_a_main_loop_that_stops_refreshing_turns_the_leds_to_stopped(tmp_path):
    root = make_leds(tmp_path / "leds")
    config = LedsConfig(
        backend="sysfs",
        green="green",
        amber="amber",
        red="red",
        sysfs_root=str(root),
        hang_after=0.5,
    )
    service = build(config, None, lambda: Facts())
    service.start()
    assert board_state(root)["green"] == ("none", "255")
    dark = {n: ("none", "0") for n in ("green", "amber", "red")}
    wait_until(lambda: board_state(root) == dark, 20, what="the stopped pattern")
    assert service.counts["hangs"] == 1 and service.condition is Condition.STOPPED
    service.refresh()  # the loop is back
    assert board_state(root)["green"] == ("none", "255")
    service.stop()
    assert board_state(root) == dark


def test_a_button_on_a_pin_the_board_does_not_have_leaves_the_leds_working(mock_pins):
    config = LedsConfig(**PINS, button="GPIO45")
    service = build(config, None, lambda: Facts())
    service.start()
    assert service.counts["button_errors"] == 1
    assert lit(mock_pins)["green"] == 1
    service.stop()
