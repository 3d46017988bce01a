"""Read and validate the TOML config, collecting every problem with its key path.

Validation is strict (unknown keys are errors, as in Telegraf) and does no I/O beyond reading the
file: no port is opened, no host resolved. Each problem is one line naming the file, the key path
(`devices[1].port`) and what was expected, so `edged check-config` can print them all at once.
Defaults come from `edged.config.settings`, the only place they are written.
"""

from __future__ import annotations

import grp
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields, replace
from pathlib import Path
from typing import Any

from drivers.base import DriverSpec
from drivers.registry import registry
from edged.config import batteries as battery_section
from edged.config import health as health_section
from edged.config import leds as leds_section
from edged.config import power as power_section
from edged.config import remote as remote_section
from edged.config.checks import kind as _kind
from edged.config.checks import match as _match
from edged.config.checks import port as _port
from edged.config.checks import positive as _positive
from edged.config.settings import (
    DEFAULT_CONFIG_PATH,
    PAYLOAD_FORMS,
    Config,
    DeviceConfig,
    MqttConfig,
    SiteConfig,
    StorageConfig,
    TelemetryConfig,
    TlsConfig,
)
from maintenance.report.registry import validate_equipment

SITE_ID = re.compile(r"^[a-z0-9-]{1,64}$")
DEVICE_ID = re.compile(r"^[a-z0-9_-]{1,64}$")
TOPIC_PREFIX = re.compile(r"^[^#+\s]+$")
DEVICE_COMMON = ("id", "name", "driver", "interval", "stale_after", "offline_after")


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    expected: str

    def line(self, source: str) -> str:
        return f"{source}: {self.path}: {self.expected}"


class ConfigError(Exception):
    """The config cannot be used; `problems` lists every reason, each with its key path."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(p.line(source) for p in problems))


class ConfigUnreadable(ConfigError):
    """The file exists but this user may not read it: `group` may (the config holds the
    broker's password, so it is not world-readable). The CLI says it in the user's language."""

    def __init__(self, source: str, group: str) -> None:
        self.group = group
        reason = f"permission denied: only root and the group {group} may read it"
        super().__init__(source, [Problem("(file)", reason)])


def config_path(cli_value: str | None) -> str:
    """`--config`, else `EDGED_CONFIG`, else the packaged default path."""
    return cli_value or os.environ.get("EDGED_CONFIG") or DEFAULT_CONFIG_PATH


def load(path: str) -> Config:
    """Read and validate `path`; raises ConfigError listing every problem found."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, [Problem("(file)", "file not found")]) from None
    except PermissionError:
        raise ConfigUnreadable(path, _owning_group(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [Problem("(file)", f"cannot read: {exc}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [Problem("(file)", f"invalid TOML: {exc}")]) from None
    return parse(raw, source=path)


def _language(val: Any) -> str | None:
    return None if val in ("fr", "en") else "expected one of fr, en"


def _owning_group(path: str) -> str:
    try:
        return grp.getgrgid(os.stat(path).st_gid).gr_name
    except (OSError, KeyError):
        return "edged"


def parse(raw: Mapping[str, Any], source: str = "<config>") -> Config:
    v = _Validator()

    sections = (
        "site",
        "storage",
        "mqtt",
        "telemetry",
        "devices",
        "health",
        "alarms",
        "batteries",
        "equipment",
        "jobs",
        "power",
        "shedding",
        "budget",
        "leds",
        "remote",
        "homeassistant",
    )
    v.unknown(raw, "", sections)
    site = v.section(
        raw,
        "site",
        SiteConfig,
        {"id": _match(SITE_ID, "[a-z0-9-]"), "language": _language},
        required=True,
    )
    storage = v.section(
        raw,
        "storage",
        StorageConfig,
        {"commit_interval": _positive, "low_battery_commit_interval": _positive},
    )
    mqtt = _mqtt(v, raw)
    telemetry = v.section(
        raw,
        "telemetry",
        TelemetryConfig,
        {
            "publish_interval": _positive,
            "history_batch": _positive,
            "payload": lambda val: None if val in PAYLOAD_FORMS else "expected json or compact",
        },
    )
    devices = _devices(v, raw.get("devices", []))
    health = health_section.health(v, raw)
    alarms = health_section.alarms(v, raw)
    banks = battery_section.batteries(v, raw)
    equipment = _equipment(v, raw)
    jobs, power, shedding, budget = power_section.power_sections(v, raw, banks)
    indicators = leds_section.leds(v, raw)
    remote = remote_section.remote(v, raw)
    homeassistant = remote_section.homeassistant(v, raw)
    if v.problems:
        raise ConfigError(source, v.problems)
    return Config(
        site,
        storage,
        mqtt,
        telemetry,
        tuple(devices),
        health,
        alarms,
        banks,
        jobs,
        power,
        shedding,
        budget,
        equipment,
        remote,
        homeassistant,
        source=source,
        leds=indicators,
    )


def _equipment(v: _Validator, raw: Mapping[str, Any]) -> tuple[Any, ...]:
    """`[[equipment]]` through the report's own validator, so the rules live in one place."""
    if "equipment" not in raw:
        return ()
    items, problems = validate_equipment(raw["equipment"])
    for path, expected in problems:
        v.add(path, "unknown key" if expected == "no such key" else f"expected {expected}")
    return tuple(items)


def _mqtt(v: _Validator, raw: Mapping[str, Any]) -> MqttConfig:
    checks = {
        "port": _port,
        "topic_prefix": _match(TOPIC_PREFIX, "a topic level with no wildcards or spaces"),
        "keepalive": _positive,
        "max_inflight": _positive,
        "reconnect_min": _positive,
        "reconnect_max": _positive,
        "ack_timeout": _positive,
    }
    mqtt = v.section(raw, "mqtt", MqttConfig, checks, nested=("tls",))
    section = raw.get("mqtt")
    if mqtt is None or not isinstance(section, Mapping) or "tls" not in section:
        return mqtt or MqttConfig()
    return replace(mqtt, tls=v.section(section, "tls", TlsConfig, {}, prefix="mqtt."))


def _devices(v: _Validator, raw: Any) -> list[DeviceConfig]:
    raw = v.array(raw, "devices")
    out: list[DeviceConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        path = f"devices[{i}]"
        if not isinstance(item, Mapping):
            v.add(path, f"expected a table, got {_kind(item)}")
            continue
        device = _device(v, item, path)
        # Judged on the written id, whatever else is wrong with either device: check-config
        # promises every problem at once, and a duplicate is the one a typo fix will not show.
        dev_id = item.get("id")
        if isinstance(dev_id, str) and DEVICE_ID.match(dev_id):
            if dev_id in seen:
                v.add(f"{path}.id", f"expected a unique device id, {dev_id!r} is used twice")
            seen.add(dev_id)
        if device is None:
            continue
        _shared_serial_port(v, device, out, path)
        out.append(device)
    return out


def _shared_serial_port(
    v: _Validator, device: DeviceConfig, earlier: list[DeviceConfig], path: str
) -> None:
    """One serial port, one device, unless the driver shares a bus (several RS485 slaves): else
    each runner would eat the other's answers. Devices on one bus must agree on its speed."""
    port = device.options.get("port")
    if not isinstance(port, str):
        return
    for i, other in enumerate(earlier):
        if other.options.get("port") != port:
            continue
        if registry()[device.driver].shared_bus and other.driver == device.driver:
            if other.options.get("baudrate") != device.options.get("baudrate"):
                v.add(
                    f"{path}.baudrate",
                    f"expected the baudrate of devices[{i}] ({other.id!r}) on the same bus, "
                    f"{other.options.get('baudrate')!r}",
                )
            continue
        v.add(
            f"{path}.port",
            f"expected a serial port no other device uses, devices[{i}] ({other.id!r}) "
            "uses it too (this driver cannot share a bus)",
        )
        return


def _device(v: _Validator, item: Mapping[str, Any], path: str) -> DeviceConfig | None:
    start = len(v.problems)
    dev_id = v.value(item, "id", str, path, required=True, check=_match(DEVICE_ID, "[a-z0-9_-]"))
    driver = v.value(item, "driver", str, path, required=True)
    name = v.value(item, "name", str, path, "")
    specs = registry()
    spec: DriverSpec | None = specs.get(driver) if isinstance(driver, str) else None
    if isinstance(driver, str) and spec is None:
        v.add(f"{path}.driver", f"expected one of {', '.join(sorted(specs))}, got {driver!r}")
    default_interval = spec.default_interval if spec else 10.0
    interval = v.value(item, "interval", float, path, default_interval, check=_positive)
    interval = float(interval or default_interval)
    stale = v.value(item, "stale_after", float, path, max(3 * interval, 10.0), check=_positive)
    stale = float(stale or max(3 * interval, 10.0))
    offline = v.value(item, "offline_after", float, path, max(6 * stale, 60.0), check=_positive)
    options: dict[str, Any] = {}
    if spec is not None:
        v.unknown(item, path + ".", (*DEVICE_COMMON, *spec.options))
        for key, opt in spec.options.items():
            options[key] = v.value(item, key, opt.type, path, opt.default, opt.required, opt.check)
        if spec.validate is not None and len(v.problems) == start:
            for key, expected in spec.validate(options):
                v.add(f"{path}.{key}", expected)
    if stale is not None and offline is not None and offline <= stale:
        v.add(f"{path}.offline_after", f"expected more than stale_after ({stale:g}), got {offline}")
    if len(v.problems) > start:
        return None
    return DeviceConfig(
        dev_id, driver, interval, float(stale), float(offline), options, name=name or ""
    )


class _Validator:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, expected: str) -> None:
        self.problems.append(Problem(path, expected))

    def array(self, value: Any, path: str) -> list:
        """`value` if it is an array (of tables, `[[path]]`), else [] and the problem."""
        if isinstance(value, list):
            return value
        self.add(path, f"expected an array of tables ([[{path}]]), got {_kind(value)}")
        return []

    def unknown(self, table: Mapping[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                self.add(f"{prefix}{key}", f"unknown key; expected one of {', '.join(allowed)}")

    def value(self, table, key, typ, path, default=None, required=False, check=None):
        where = f"{path}.{key}" if path else key
        if key not in table:
            if required:
                self.add(where, "required key is missing")
            return default
        val = table[key]
        types = typ if isinstance(typ, tuple) else (typ,)
        if float in types and int not in types:
            types = (*types, int)
        if isinstance(val, bool) and bool not in types or not isinstance(val, types):
            self.add(where, f"expected {_type_names(types)}, got {_kind(val)} {val!r}")
            return default
        message = check(val) if check else None
        if message:
            self.add(where, f"{message}, got {val!r}")
            return default
        return val

    def section(self, raw, name, cls, checks, required=False, prefix="", nested=()):
        """Validate table `name` of `raw` into dataclass `cls`; None when unusable."""
        path = prefix + name
        if name not in raw:
            if required:
                self.add(path, "required table is missing")
                return None
            return cls()
        table = raw[name]
        if not isinstance(table, Mapping):
            self.add(path, f"expected a table, got {_kind(table)}")
            return None
        self.unknown(table, path + ".", tuple(f.name for f in fields(cls)))
        kwargs = {}
        for f in fields(cls):
            if f.name in nested:
                continue
            if f.name in table:
                typ = _annotation_types(f.type)
                val = self.value(table, f.name, typ, path, None, False, checks.get(f.name))
                if val is not None:
                    kwargs[f.name] = val
            elif f.default is MISSING:
                self.add(f"{path}.{f.name}", "required key is missing")
        if any(f.default is MISSING and f.name not in kwargs for f in fields(cls)):
            return None
        return cls(**kwargs)


_TYPE_WORDS = {"str": str, "int": int, "float": float, "bool": bool}


def _annotation_types(annotation: str | type) -> tuple[type, ...]:
    text = annotation if isinstance(annotation, str) else annotation.__name__
    words = [w.strip() for w in text.split("|")]
    return tuple(_TYPE_WORDS[w] for w in words if w in _TYPE_WORDS)


def _type_names(types: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if float in types:
        return "a number"
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))
