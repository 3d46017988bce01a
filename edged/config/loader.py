"""Read and validate the TOML config, collecting every problem with its key path.

Validation is strict (unknown keys are errors, as in Telegraf) and does no I/O beyond reading the
file: no port is opened, no host resolved. Each problem is one line naming the file, the key path
(`devices[1].port`) and what was expected, so `edged check-config` can print them all at once.
Defaults are written once, in each section's dataclass beside its checks.
"""

from __future__ import annotations

import grp
import os
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from edged.config import alarms as alarms_section
from edged.config import batteries as battery_section
from edged.config import devices as devices_section
from edged.config import equipment as equipment_section
from edged.config import health as health_section
from edged.config import jobs as jobs_section
from edged.config import leds as leds_section
from edged.config import power as power_section
from edged.config import remote as remote_section
from edged.config import shedding as shedding_section
from edged.config import site as site_section
from edged.config.checks import kind as _kind
from edged.config.settings import DEFAULT_CONFIG_PATH, Config


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
    site = site_section.site(v, raw)
    storage = site_section.storage(v, raw)
    mqtt = site_section.mqtt(v, raw)
    telemetry = site_section.telemetry(v, raw)
    devices = devices_section.devices(v, raw.get("devices", []))
    health = health_section.health(v, raw)
    alarms = alarms_section.alarms(v, raw)
    banks = battery_section.batteries(v, raw)
    equipment = equipment_section.equipment(v, raw)
    nominal = power_section.bank_nominal(raw, banks)
    jobs = jobs_section.jobs(v, raw, nominal)
    power = power_section.power(v, raw, banks)
    shedding = shedding_section.shedding(v, raw, nominal)
    budget = power_section.budget(v, raw)
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
