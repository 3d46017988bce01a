"""The whole configuration as every part of edged receives it: one frozen `Config` made of each
section's settings.

Each section's dataclass, its defaults and its checks live together in that section's module
(site, devices, batteries, health, alarms, jobs, power, shedding, equipment, leds, remote);
`edged.config.loader` builds this from TOML after validating every key, and everything else
receives it ready-made and never touches TOML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edged.config.alarms import AlarmsConfig
from edged.config.batteries import BatteryConfig
from edged.config.devices import DeviceConfig
from edged.config.health import HealthConfig
from edged.config.jobs import JobConfig
from edged.config.leds import LedsConfig
from edged.config.power import Budget, PowerConfig
from edged.config.remote import HomeAssistantConfig, RemoteConfig
from edged.config.shedding import SheddingConfig
from edged.config.site import MqttConfig, SiteConfig, StorageConfig, TelemetryConfig

if TYPE_CHECKING:  # the type only: importing the report's registry is the loader's job
    from maintenance.report.registry import Item

DEFAULT_CONFIG_PATH = "/etc/edged/edged.toml"


@dataclass(frozen=True, slots=True)
class Config:
    site: SiteConfig
    storage: StorageConfig = StorageConfig()
    mqtt: MqttConfig = MqttConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    devices: tuple[DeviceConfig, ...] = ()
    health: HealthConfig = HealthConfig()
    alarms: AlarmsConfig = AlarmsConfig()
    batteries: tuple[BatteryConfig, ...] = ()
    jobs: tuple[JobConfig, ...] = ()
    power: PowerConfig = PowerConfig()
    shedding: SheddingConfig = SheddingConfig()
    budget: Budget | None = None
    """`[budget]`, for the report's costs (None: its defaults)."""
    equipment: tuple[Item, ...] = ()
    """`[[equipment]]`, for the report's costs and `edged maintenance log`."""
    remote: RemoteConfig = RemoteConfig()
    homeassistant: HomeAssistantConfig = HomeAssistantConfig()
    source: str = ""
    """The file this config was read from (for messages)."""
    leds: LedsConfig | None = None
    """`[leds]`; None: the site has no status LEDs."""

    @property
    def topic_root(self) -> str:
        """`P` of the contract: `{topic_prefix}/{site.id}`."""
        return f"{self.mqtt.topic_prefix}/{self.site.id}"
