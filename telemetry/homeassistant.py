"""Home Assistant MQTT discovery (`[homeassistant] discovery = true`): retained configs under
`{prefix}/{component}/edged-{site}/{object_id}/config` so a site or district running Home
Assistant gets a dashboard with no set-up.

Pure: topics and payloads only (the publisher sends them retained). Keys are Home Assistant's
documented MQTT discovery keys (sensor, binary_sensor, the `device` map, `availability`); the
state comes from what edged already publishes (`P/telemetry/{device}`, `P/alarm/{id}`), so
discovery costs no extra message per record. Availability is `P/status` (`online`/`offline`,
the latter as last will). Units and device/state classes come from the metric catalogue.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from edged.metrics import CATALOGUE, Aggregate, Metric
from telemetry import compact, topics

UNITS = {
    "V": "V",
    "A": "A",
    "W": "W",
    "VA": "VA",
    "%": "%",
    "°C": "°C",
    "Ah": "Ah",
    "kWh": "kWh",
    "min": "min",
    "s": "s",
}
"""Catalogue unit -> Home Assistant `unit_of_measurement` (count, int, 0/1, text: none)."""
DEVICE_CLASSES = {
    "V": "voltage",
    "A": "current",
    "W": "power",
    "VA": "apparent_power",
    "°C": "temperature",
    "kWh": "energy",
    "min": "duration",
    "s": "duration",
}
"""Home Assistant sensor device classes, each with a unit its documentation allows."""
TOTALS = {"yield_today", "yield_yesterday", "load_energy_today"}
"""Energy counters that go back to zero (daily): `total_increasing` copes with the reset."""


def node(site: str) -> str:
    return f"edged-{site}"


def _availability(root: str) -> list[dict[str, str]]:
    return [
        {
            "topic": topics.status_topic(root),
            "payload_available": topics.STATUS_ONLINE.decode(),
            "payload_not_available": topics.STATUS_OFFLINE.decode(),
        }
    ]


def site_device(site: str, name: str, version: str) -> dict[str, Any]:
    """The PiBox running edged: the device every edged device is connected through."""
    return {
        "identifiers": [node(site)],
        "name": name or f"edged {site}",
        "manufacturer": "edged",
        "model": "edged on Raspberry Pi",
        "sw_version": version,
    }


def device_map(site: str, device: str, info: Mapping[str, Any]) -> dict[str, Any]:
    """One solar controller, monitor or BMS, with what it says of itself (P/device)."""
    found: dict[str, Any] = {
        "identifiers": [f"{node(site)}-{device}"],
        "name": f"{device} ({site})",
        "via_device": node(site),
    }
    for key, ha_key in (
        ("product", "model"),
        ("serial", "serial_number"),
        ("firmware", "sw_version"),
    ):
        value = info.get(key)
        if value not in (None, ""):
            found[ha_key] = str(value)
    return found


def value_template(name: str) -> str:
    """The metric's value from a record of either form (`[telemetry] payload`): a site switched
    to the compact form, or back, keeps its sensors without new discovery configs."""
    plain = f"value_json.metrics.{name}"
    code, scale = compact.CODES.get(name, (None, None))
    if code is None:
        return f"{{{{ {plain} }}}}"
    value = f"value_json.m['{code}']"
    if scale is not None and scale != 1:
        places = max(0, -math.floor(math.log10(scale) + 1e-9))
        value = f"({value} * {scale}) | round({places})"
    return f"{{{{ {plain} if value_json.metrics is defined else {value} }}}}"


def sensor(
    prefix: str, root: str, site: str, device: str, metric: Metric, dev: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """(topic, config) of one metric of one device, read from `P/telemetry/{device}`."""
    object_id = f"{device}_{metric.name}"
    config: dict[str, Any] = {
        "name": metric.name.replace("_", " "),
        "unique_id": f"{node(site)}-{object_id}",
        "object_id": f"{node(site).replace('-', '_')}_{object_id}",
        "state_topic": topics.telemetry_topic(root, device),
        "value_template": value_template(metric.name),
        "availability": _availability(root),
        "device": dev,
    }
    if metric.unit in UNITS:
        config["unit_of_measurement"] = UNITS[metric.unit]
    if metric.name == "battery_soc":
        config["device_class"] = "battery"
    elif metric.unit in DEVICE_CLASSES:
        config["device_class"] = DEVICE_CLASSES[metric.unit]
    if not metric.text:
        energy = metric.unit == "kWh"
        total = energy and (metric.name in TOTALS or metric.aggregate is Aggregate.LAST)
        config["state_class"] = "total_increasing" if total else "measurement"
    return f"{prefix}/sensor/{node(site)}/{object_id}/config", config


def device_sensors(
    prefix: str, root: str, site: str, device: str, metrics: list[str], info: Mapping[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """Configs of the catalogue metrics among `metrics` (unknown names are skipped)."""
    dev = device_map(site, device, info)
    return [
        sensor(prefix, root, site, device, CATALOGUE[m], dev) for m in metrics if m in CATALOGUE
    ]


def alarm_sensor(
    prefix: str, root: str, site: str, alarm_id: str, dev: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """A `problem` binary sensor on the retained `P/alarm/{alarm_id}`."""
    object_id = "alarm_" + alarm_id.replace(".", "_")
    config = {
        "name": f"alarm {alarm_id}",
        "unique_id": f"{node(site)}-{object_id}",
        "object_id": f"{node(site).replace('-', '_')}_{object_id}",
        "state_topic": topics.alarm_topic(root, alarm_id),
        "value_template": "{{ 'ON' if value_json.active else 'OFF' }}",
        "payload_on": "ON",
        "payload_off": "OFF",
        "device_class": "problem",
        "json_attributes_topic": topics.alarm_topic(root, alarm_id),
        "availability": _availability(root),
        "device": dev,
    }
    return f"{prefix}/binary_sensor/{node(site)}/{object_id}/config", config
