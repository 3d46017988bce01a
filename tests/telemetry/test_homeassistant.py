"""Home Assistant discovery payloads, checked against Home Assistant's documented MQTT discovery
keys (https://www.home-assistant.io/integrations/sensor.mqtt/, binary_sensor.mqtt/, and the
discovery topic format of https://www.home-assistant.io/integrations/mqtt/), copied here as
data: a key Home Assistant does not know, a unit its device class does not allow, or a topic
level it would not read fails here rather than silently on a site."""

from __future__ import annotations

import json
import re

import pytest

from edged.metrics import CATALOGUE
from telemetry import homeassistant as ha

COMMON = {
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "device",
    "device_class",
    "enabled_by_default",
    "encoding",
    "entity_category",
    "entity_picture",
    "expire_after",
    "force_update",
    "icon",
    "json_attributes_template",
    "json_attributes_topic",
    "name",
    "object_id",
    "default_entity_id",
    "payload_available",
    "payload_not_available",
    "qos",
    "state_topic",
    "unique_id",
    "value_template",
    "platform",
}
SENSOR_KEYS = COMMON | {
    "last_reset_value_template",
    "options",
    "state_class",
    "suggested_display_precision",
    "unit_of_measurement",
}
BINARY_KEYS = COMMON | {"off_delay", "payload_off", "payload_on"}
DEVICE_KEYS = {
    "configuration_url",
    "connections",
    "hw_version",
    "identifiers",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "serial_number",
    "suggested_area",
    "sw_version",
    "via_device",
}
AVAILABILITY_KEYS = {"payload_available", "payload_not_available", "topic", "value_template"}
UNITS_OF_CLASS = {  # the sensor device classes' allowed units (those edged can use)
    "voltage": {"V", "mV"},
    "current": {"A", "mA"},
    "power": {"W", "kW"},
    "apparent_power": {"VA"},
    "temperature": {"°C", "°F", "K"},
    "energy": {"Wh", "kWh", "MWh"},
    "duration": {"d", "h", "min", "s", "ms"},
    "battery": {"%"},
}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
TOPIC = re.compile(r"^homeassistant/(sensor|binary_sensor)/[a-zA-Z0-9_-]+/[a-zA-Z0-9_-]+/config$")
ROOT = "edged/kalaban-coro"
INFO = {"product": "SmartSolar MPPT 100/20", "serial": "HQ2132ABCDE", "firmware": "v1.63"}


def every_sensor() -> list[tuple[str, dict]]:
    return ha.device_sensors("homeassistant", ROOT, "kalaban-coro", "mppt", list(CATALOGUE), INFO)


@pytest.mark.parametrize("topic, config", every_sensor(), ids=lambda x: str(x)[-40:])
def test_every_catalogue_metric_makes_a_valid_sensor(topic, config):
    assert TOPIC.match(topic), topic
    assert set(config) <= SENSOR_KEYS
    assert set(config["device"]) <= DEVICE_KEYS
    assert all(set(a) <= AVAILABILITY_KEYS for a in config["availability"])
    assert config["unique_id"] and config["state_topic"] == f"{ROOT}/telemetry/mppt"
    metric = topic.split("/")[3].removeprefix("mppt_")
    assert config["value_template"].startswith(f"{{{{ value_json.metrics.{metric} if ")
    if "device_class" in config:
        assert config["unit_of_measurement"] in UNITS_OF_CLASS[config["device_class"]], config
    if CATALOGUE[metric].text:
        assert "state_class" not in config and "unit_of_measurement" not in config
    else:
        assert config["state_class"] in STATE_CLASSES


def test_a_device_says_model_serial_and_firmware_and_comes_through_the_pibox():
    [(topic, config)] = ha.device_sensors(
        "homeassistant", ROOT, "kalaban-coro", "mppt", ["battery_voltage", "nope"], INFO
    )
    assert topic == "homeassistant/sensor/edged-kalaban-coro/mppt_battery_voltage/config"
    assert config["device"] == {
        "identifiers": ["edged-kalaban-coro-mppt"],
        "name": "mppt (kalaban-coro)",
        "via_device": "edged-kalaban-coro",
        "model": "SmartSolar MPPT 100/20",
        "serial_number": "HQ2132ABCDE",
        "sw_version": "v1.63",
    }
    assert config["availability"] == [
        {
            "topic": f"{ROOT}/status",
            "payload_available": "online",
            "payload_not_available": "offline",
        }
    ]
    assert (config["device_class"], config["unit_of_measurement"]) == ("voltage", "V")


def test_energy_totals_and_soc_classes():
    by_metric = {t.split("/")[3]: c for t, c in every_sensor()}
    assert by_metric["mppt_yield_total"]["state_class"] == "total_increasing"
    assert by_metric["mppt_yield_today"]["state_class"] == "total_increasing"
    assert by_metric["mppt_battery_soc"]["device_class"] == "battery"
    assert by_metric["mppt_battery_power"]["state_class"] == "measurement"


def test_an_alarm_is_a_problem_binary_sensor_on_its_retained_topic():
    dev = ha.site_device("kalaban-coro", "CSCOM", "0.1.0")
    topic, config = ha.alarm_sensor("homeassistant", ROOT, "kalaban-coro", "soc_low.mppt", dev)
    assert TOPIC.match(topic) and topic.endswith("/alarm_soc_low_mppt/config")
    assert set(config) <= BINARY_KEYS and set(config["device"]) <= DEVICE_KEYS
    assert config["state_topic"] == f"{ROOT}/alarm/soc_low.mppt"
    assert config["device_class"] == "problem"


@pytest.mark.parametrize("form", ["json", "compact"])
def test_one_value_template_reads_both_record_forms(form):
    """Rendered with Jinja2 as Home Assistant renders it (`value_json` is the parsed payload):
    a site switched between `[telemetry] payload` forms keeps its sensors."""
    jinja2 = pytest.importorskip("jinja2")
    from edged.readings import Record
    from telemetry import topics

    values = {"battery_voltage": 12.5312, "charger_state": "float", "battery_cycles": 17}
    payload = topics.telemetry_payload(Record("mppt", 1764000000, True, 60, values), form)
    seen = {
        name: jinja2.Environment()
        .from_string(ha.value_template(name))
        .render(value_json=json.loads(payload))
        for name in values
    }
    volts = "12.53" if form == "compact" else "12.5312"  # compact: at the metric's resolution
    assert seen == {"battery_voltage": volts, "charger_state": "float", "battery_cycles": "17"}
