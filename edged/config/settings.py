"""Frozen configuration objects and their defaults, in one place.

`edged.config.loader` builds these from TOML after validating every key; everything else
receives them ready-made and never touches TOML. Defaults live here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CONFIG_PATH = "/etc/edged/edged.toml"


@dataclass(frozen=True, slots=True)
class SiteConfig:
    id: str
    name: str = ""
    contact: str = ""
    """Whom staff call when something needs a technician (name and number), shown by
    `edged status` under its verdict."""
    language: str = "fr"
    """What the CLI speaks (`fr` or `en`) when neither `--lang` nor $EDGED_LANG says; never
    the locale's $LANG (Raspberry Pi OS ships English)."""


@dataclass(frozen=True, slots=True)
class StorageConfig:
    path: str = "/var/lib/edged/edged.db"
    commit_interval: float = 180.0
    """Seconds between batch commits: the most a power cut can lose of what was read (records
    go live before it, when their window closes). Each commit costs ~5.5 SD pages whatever it
    holds (README)."""
    low_battery_soc: float = 30.0
    low_battery_commit_interval: float = 15.0
    """While a device reports battery_soc below low_battery_soc, commit this often instead: the
    samples before a power cut are the ones a technician needs (telemetry.cadence)."""
    keep_raw_samples: bool = False
    """Store every raw sample (1 Hz for a VE.Direct device) for `sample_retention_days`, for
    diagnostics. By default a commit stores only the samples of windows still open (what a
    restart needs to rebuild them) and each device's newest: the records are the history."""
    sample_retention_days: float = 35.0
    """Raw samples older than this are pruned (whole compressed blocks)."""
    record_retention_days: float = 62.0
    """Published records older than this are pruned once acknowledged and rolled up (hourly
    and daily rollups, kept for years, are what the monthly report reads); never while in the
    outbox."""
    health_retention_days: float = 70.0
    """Health rows (PiBox, glasses, uplink) older than this are pruned: long enough for the
    monthly report of the month before last."""
    reports_dir: str = "/var/lib/edged/reports"
    """Where the monthly report files are kept for upload (edged.services.report)."""
    live_path: str | None = None
    """The daemon's live view for `edged status`, on tmpfs (RAM) so it costs the SD card nothing.
    None: `/run/edged/{site.id}/live.json` (edged.live.candidates), a folder per site."""


@dataclass(frozen=True, slots=True)
class TlsConfig:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False
    """Skip hostname verification (certificate chain is still verified). For lab brokers only."""


@dataclass(frozen=True, slots=True)
class MqttConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 1883
    topic_prefix: str = "edged"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    keepalive: int = 60
    tls: TlsConfig | None = None
    reconnect_min: float = 1.0
    reconnect_max: float = 120.0
    max_inflight: int = 10
    ack_timeout: float = 180.0
    """Seconds a message may wait for its PUBACK before the publisher reconnects (3 keepalives)."""


PAYLOAD_FORMS = ("json", "compact")
"""`[telemetry] payload`: the records' form on the uplink (docs/mqtt.md, telemetry.compact)."""


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    publish_interval: float = 60.0
    compress_history: bool = False
    history_batch: int = 60
    """Records per `P/history/{device}` message."""
    payload: str = "json"
    """The records' form on `P/telemetry` and `P/history`: "json" (names and values as they
    are; the default, so a dashboard written against it keeps working) or "compact" (codes and
    integers at the metric's resolution, telemetry.compact; new configs use it)."""


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    id: str
    driver: str
    interval: float
    stale_after: float
    offline_after: float
    options: Mapping[str, Any]
    """Driver-specific keys, checked against `DriverSpec.options`, defaults filled in."""
    name: str = ""
    """What staff call it ("Batterie", "Régulateur solaire"); `edged status` shows it, not `id`."""

    @property
    def display_name(self) -> str:
        return self.name or self.id


@dataclass(frozen=True, slots=True)
class CheckConfig:
    """One `[[health.checks]]` entry (docs/health.md); only the fields of its kind are used."""

    name: str
    kind: str
    url: str = ""
    expect_status: int = 200
    expect_text: str | None = None
    host: str = ""
    port: int = 0
    unit: str = ""
    timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class EquipmentConfig:
    """One `[[health.equipment]]` item (smart glasses): how it can be seen."""

    item: str
    usb_ids: tuple[str, ...] = ()
    usb_charging: bool = True
    lan_host: str | None = None
    lan_port: int | None = None
    lan_timeout: float = 2.0
    report_ttl: float = 900.0
    max_gap: float = 900.0


@dataclass(frozen=True, slots=True)
class ReportEndpointConfig:
    bind: str = "127.0.0.1"
    port: int = 8765
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class UplinkConfig:
    interface: str = "ppp0"
    monthly_budget_mb: float | None = None
    cycle_day: int = 1
    timezone: str = "UTC"
    window_h: float = 24.0
    broker_check: bool = True


@dataclass(frozen=True, slots=True)
class HealthConfig:
    enabled: bool = True
    interval: float = 60.0
    """Seconds between health rounds: one P/health message and one stored row per component."""
    data_path: str = "/var/lib/edged"
    sysfs_root: str = "/"
    """Where /sys and /proc are read from (a fake tree in tests; "/" on a real box)."""
    checks: tuple[CheckConfig, ...] = ()
    equipment: tuple[EquipmentConfig, ...] = ()
    report: ReportEndpointConfig | None = None
    uplink: UplinkConfig | None = None


@dataclass(frozen=True, slots=True)
class AlarmRuleConfig:
    """An override of a built-in rule (`[alarms.<id>]`, None = keep the built-in value) or a
    custom rule (`[[alarms.rules]]`, where target, condition and threshold are required)."""

    id: str
    enabled: bool = True
    target: str | None = None
    condition: str | None = None
    threshold: float | str | bool | None = None
    clear: float | None = None
    delay: float | None = None
    clear_delay: float | None = None
    severity: str | None = None
    message_fr: str | None = None
    message_en: str | None = None


@dataclass(frozen=True, slots=True)
class AlarmsConfig:
    timezone: str = "UTC"
    """Local time of the site, for rules restricted to daylight hours (Mali is UTC all year)."""
    daylight_hours: tuple[int, int] = (8, 17)
    overrides: tuple[AlarmRuleConfig, ...] = ()
    rules: tuple[AlarmRuleConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class BatteryConfig:
    """One `[[batteries]]` bank (docs/battery.md): its SOC is measured by `monitor` (a battery
    monitor or BMS device reporting battery_soc) or estimated from `controller`'s readings, less
    `load`'s load_current. Exactly one of monitor and controller is set."""

    id: str
    chemistry: str
    nominal_voltage: int
    capacity_ah: float
    monitor: str | None = None
    controller: str | None = None
    load: str | None = None
    charge_efficiency: float | None = None
    peukert: float | None = None
    initial_soc: float | None = None
    """None: unknown (50 ± 50 %) until the first full charge or a saved estimate."""


@dataclass(frozen=True, slots=True)
class JobConfig:
    """One `[[jobs]]` entry (docs/power-policy.md): a backup, sync or report run when the energy
    allows. `policy` is the `maintenance.energy.policy.JobSpec` built from the same table (typed
    loosely: this module imports no layer); the rest is how the job is run."""

    policy: Any
    command: tuple[str, ...] = ()
    """argv, no shell; empty only for `kind = "report"` (the built-in monthly report)."""
    on_low_battery: str = "stop"
    """`stop` (SIGTERM, then SIGKILL after stop_grace) or `suspend` (SIGSTOP, SIGCONT when the
    battery allows again) when SOC falls to the floor while it runs."""
    stop_grace: float = 30.0
    workdir: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.policy.name)


@dataclass(frozen=True, slots=True)
class PowerConfig:
    """`[power]`: where the scheduler reads the battery, and how often it decides."""

    battery: str | None = None
    """Device or `[[batteries]]` bank id whose battery_soc/battery_voltage the policy reads;
    None: the first bank, else the first device reporting battery_soc or battery_voltage."""
    capacity_wh: float | None = None
    """Usable bank energy for the job projections; None: from the bank's capacity_ah x nominal
    voltage (required when there is no `[[batteries]]` bank)."""
    timezone: str = "UTC"
    tick: float = 60.0
    """Seconds between decisions (each job and the load-shedding level)."""
    stale_after: float = 300.0
    """A battery reading older than this counts as no reading (jobs wait, running jobs stop)."""
    history_days: float = 7.0
    """Days of PV records used to find the sunniest hours."""
    auto_report: bool = True
    """Add the built-in monthly report job (`edged.power.service.DEFAULT_REPORT`) when no
    `[[jobs]]` entry of kind "report" is configured."""
    timesync_flag: str = "/run/systemd/timesync/synchronized"
    """File whose presence says NTP has synchronised the clock since boot (systemd-timesyncd
    creates it), checked besides the kernel's own flag (edged.clock)."""


@dataclass(frozen=True, slots=True)
class SheddingConfig:
    """`[shedding]`: what the PiBox does on a critical battery. `policy` is the
    `maintenance.energy.shedding.SheddingThresholds` built from the thresholds (typed loosely)."""

    policy: Any = None
    enabled: bool = True
    services: tuple[str, ...] = ()
    """systemd units stopped at `stop_services` (in order; started again in reverse order)."""
    stop_command: tuple[str, ...] = ("systemctl", "stop", "{service}")
    start_command: tuple[str, ...] = ("systemctl", "start", "{service}")
    shutdown_command: tuple[str, ...] = ("systemctl", "poweroff")
    command_timeout: float = 120.0


@dataclass(frozen=True, slots=True)
class LedsConfig:
    """`[leds]` (docs/leds.md): the status LEDs, an optional buzzer and the push button. Each
    of green, amber, red and buzzer names a Linux LED class device (`backend = "sysfs"`: a
    folder of `sysfs_root`, e.g. "ACT") or a GPIO pin (`backend = "gpio"`, gpiozero names:
    "GPIO17", "BOARD11"); the button is always a GPIO pin, wired to ground."""

    backend: str = "gpio"
    green: str | None = None
    amber: str | None = None
    red: str | None = None
    buzzer: str | None = None
    button: str | None = None
    long_press: float = 2.0
    """Seconds held: a press at least this long replays the verdict, a shorter one acknowledges."""
    hang_after: float = 10.0
    """Seconds without a refresh from the daemon's main loop before the LEDs show "stopped"."""
    sysfs_root: str = "/sys/class/leds"


@dataclass(frozen=True, slots=True)
class RemoteConfig:
    """`[remote]`: commands from technicians on `P/cmd/{name}` (docs/mqtt.md, "Commands")."""

    enabled: bool = False
    allow: tuple[str, ...] = ("ping", "status", "support_summary")
    """Commands this site runs; the others are refused. Default: the ones that only read."""
    key: str | None = field(default=None, repr=False)
    """The site's shared HMAC key: when set, every command must carry a valid `sig`, so a
    leaked broker password alone cannot command the site."""
    max_ttl: float = 86400.0
    """A command whose expiry is further ahead than this is refused (its id need not be
    remembered forever)."""
    resend_max: int = 1440
    """Most records one `resend` republishes (a day of 1-minute records); it says where it
    stopped, the centre asks again from there."""


@dataclass(frozen=True, slots=True)
class HomeAssistantConfig:
    """`[homeassistant]`: retained MQTT discovery configs so Home Assistant builds a dashboard."""

    discovery: bool = False
    prefix: str = "homeassistant"


@dataclass(frozen=True, slots=True)
class Budget:
    """`[budget]`: what the site budgets, uplink data per month and the maintenance fees it
    collected (the monthly report's costs). Here, not in maintenance.report, so that reading a
    config does not import the report's code into the daemon (bench/bench_imports.py)."""

    uplink_bytes: int | None = None
    fees_collected: float | None = None


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
    equipment: tuple[Any, ...] = ()
    """`[[equipment]]`: `maintenance.report.registry.Item`s (typed loosely: this core module
    imports no layer), for the report's costs and `edged maintenance log`."""
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
