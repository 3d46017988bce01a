"""`[site]`, `[storage]`, `[mqtt]` (and `[mqtt.tls]`) and `[telemetry]`: their frozen settings,
defaults and checks (docs/configuration.md). No I/O: no host is resolved, no port opened.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from edged.config.checks import match, port, positive

SITE_ID = re.compile(r"^[a-z0-9-]{1,64}$")
TOPIC_PREFIX = re.compile(r"^[^#+\s]+$")


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
    """Seconds between PINGREQs on a quiet link. A frugal site sets it just under its
    carrier's NAT timeout (e.g. 1200): longer and the NAT forgets the connection silently."""
    tls: TlsConfig | None = None
    reconnect_min: float = 1.0
    reconnect_max: float = 120.0
    max_inflight: int = 10
    ack_timeout: float = 180.0
    """Seconds a message may wait for its PUBACK before the publisher reconnects (3 keepalives)."""


PAYLOAD_FORMS = ("json", "compact")
"""`[telemetry] payload`: the records' form on the uplink (docs/mqtt.md, telemetry.compact)."""
MODES = ("live", "frugal")
"""`[telemetry] mode`: every record live (the default), or hourly batches (docs/mqtt.md)."""


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
    mode: str = "live"
    """"live": every record on `P/telemetry` as its window closes (the default). "frugal":
    records and health rows go in one compressed `P/batch` message per `batch_interval` (each
    message costs ~300 B of TCP/TLS/IP around it on a metered 3G link), and records go live
    only while a technician asked for it (the `live` command); alarms and device states
    still go at once (telemetry.batching)."""
    batch_interval: float = 3600.0
    """Frugal mode: seconds between batches."""
    batch_max_records: int = 1500
    """Frugal mode: a batch goes early once this many records wait (and a backlog goes in
    messages of this many records); ~60 KB of compact JSON, ~10 KB compressed."""
    live_max_minutes: float = 60.0
    """Frugal mode: the longest a `live` command turns live records on for."""


def site(v: Any, raw: Mapping[str, Any]) -> SiteConfig | None:
    """`[site]` (required); None when unusable (its problems are in `v`)."""
    checks = {"id": match(SITE_ID, "[a-z0-9-]"), "language": _language}
    return v.section(raw, "site", SiteConfig, checks, required=True)


def storage(v: Any, raw: Mapping[str, Any]) -> StorageConfig | None:
    checks = {"commit_interval": positive, "low_battery_commit_interval": positive}
    return v.section(raw, "storage", StorageConfig, checks)


def mqtt(v: Any, raw: Mapping[str, Any]) -> MqttConfig:
    checks = {
        "port": port,
        "topic_prefix": match(TOPIC_PREFIX, "a topic level with no wildcards or spaces"),
        "keepalive": positive,
        "max_inflight": positive,
        "reconnect_min": positive,
        "reconnect_max": positive,
        "ack_timeout": positive,
    }
    mqtt = v.section(raw, "mqtt", MqttConfig, checks, nested=("tls",))
    section = raw.get("mqtt")
    if mqtt is None or not isinstance(section, Mapping) or "tls" not in section:
        return mqtt or MqttConfig()
    return replace(mqtt, tls=v.section(section, "tls", TlsConfig, {}, prefix="mqtt."))


def telemetry(v: Any, raw: Mapping[str, Any]) -> TelemetryConfig | None:
    checks = {
        "publish_interval": positive,
        "history_batch": positive,
        "payload": lambda val: None if val in PAYLOAD_FORMS else "expected json or compact",
        "mode": lambda val: None if val in MODES else f"expected one of {', '.join(MODES)}",
        "batch_interval": positive,
        "batch_max_records": positive,
        "live_max_minutes": positive,
    }
    return v.section(raw, "telemetry", TelemetryConfig, checks)


def _language(val: Any) -> str | None:
    return None if val in ("fr", "en") else "expected one of fr, en"
