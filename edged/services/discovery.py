"""Home Assistant discovery (`[homeassistant] discovery = true`): tells the publisher which
retained configs to send as the daemon learns what it has (telemetry.homeassistant).

A metric gets its sensor the first time a record of its device carries it; a device's sensors
are sent again when it first says its product, serial or firmware (P/device), and an alarm gets
its binary sensor the first time it is active. The publisher keeps the latest config per topic
and republishes it on each reconnect, like every retained state. Called from the Writer's
callbacks and the main loop: a lock guards what was sent.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from edged import __version__
from edged.config.settings import Config
from edged.readings import DeviceState, Record
from telemetry import homeassistant as ha
from telemetry.mqtt import Publisher

INFO_KEYS = ("product", "serial", "firmware")


class Discovery:
    def __init__(self, config: Config, publisher: Publisher) -> None:
        self._publisher = publisher
        self._prefix = config.homeassistant.prefix
        self._root, self._site = config.topic_root, config.site.id
        self._lock = threading.Lock()
        self._metrics: dict[str, set[str]] = {}
        self._info: dict[str, dict[str, Any]] = {}
        self._alarms: set[str] = set()
        self._site_device = ha.site_device(config.site.id, config.site.name, __version__)

    def observe_records(self, records: Iterable[Record]) -> None:
        for record in records:
            with self._lock:
                known = self._metrics.setdefault(record.device, set())
                new = sorted(set(record.metrics) - known)
                known.update(new)
                info = self._info.get(record.device, {})
            self._send(record.device, new, info)

    def observe_state(self, device: str, state: DeviceState) -> None:
        info = {k: state.info[k] for k in INFO_KEYS if state.info.get(k)}
        with self._lock:
            if not info or self._info.get(device) == info:
                return
            self._info[device] = info
            metrics = sorted(self._metrics.get(device, ()))
        self._send(device, metrics, info)

    def observe_alarms(self, active: Iterable[dict[str, Any]]) -> None:
        for alarm in active:
            alarm_id = alarm["alarm_id"]
            with self._lock:
                if alarm_id in self._alarms:
                    continue
                self._alarms.add(alarm_id)
            topic, config = ha.alarm_sensor(
                self._prefix, self._root, self._site, alarm_id, self._site_device
            )
            self._publisher.publish_retained(topic, config)

    def _send(self, device: str, metrics: list[str], info: dict[str, Any]) -> None:
        configs = ha.device_sensors(self._prefix, self._root, self._site, device, metrics, info)
        for topic, config in configs:
            self._publisher.publish_retained(topic, config)
