"""Home Assistant discovery end to end: `edged run` with `[homeassistant] discovery = true`
publishes retained configs that a Home Assistant connecting later reads, whose state topics
and templates point at what the daemon really publishes."""

from __future__ import annotations

import json

from tests.peers.remote_site import P, Site
from tests.peers.subscriber import Subscriber

NODE = "homeassistant/sensor/edged-test-site"


def test_discovery_configs_are_retained_and_point_at_real_values(tmp_path):
    site = Site(tmp_path, "[homeassistant]\ndiscovery = true\n")
    try:
        live = Subscriber(site.broker.host, site.broker.port, f"{P}/telemetry/mppt").start()
        record = json.loads(live.wait_for(lambda m: True, 30)[0].payload)
        live.stop()
        late = Subscriber(site.broker.host, site.broker.port, "homeassistant/#").start()
        topic = f"{NODE}/mppt_battery_voltage/config"
        [config_msg] = late.wait_for(lambda m: m.topic == topic, 15)[:1]
        assert config_msg.retain
        config = json.loads(config_msg.payload)
        assert config["state_topic"] == f"{P}/telemetry/mppt"
        assert config["availability"][0]["topic"] == f"{P}/status"
        assert config["device"]["model"] and config["device"]["via_device"] == "edged-test-site"
        assert config["unit_of_measurement"] == "V" and config["device_class"] == "voltage"
        for name in record["metrics"]:  # one sensor per metric the device publishes
            late.wait_for(lambda m, n=name: m.topic == f"{NODE}/mppt_{n}/config", 10)
        alarm = late.wait_for(lambda m: "binary_sensor" in m.topic, 15)[0]
        assert json.loads(alarm.payload)["state_topic"] == f"{P}/alarm/pibox_disk_full.pibox"
        late.stop()
    finally:
        site.close()
