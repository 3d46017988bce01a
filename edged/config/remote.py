"""`[remote]` and `[homeassistant]`: their frozen settings, checked like every section, no I/O
(edged.config.loader).

The command names are the wire module's (`telemetry.commands.NAMES`), so a name allowed here is
one the daemon knows. A key shorter than 16 characters is refused: it is the only thing between
a leaked broker password and a command run on a site.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edged.config.checks import kind, positive
from telemetry.commands import NAMES

MIN_KEY = 16
TOPIC_LEVEL = re.compile(r"^[^#+\s/]+$")


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


def remote(v: Any, raw: Mapping[str, Any]) -> RemoteConfig:
    """`v` is the loader's validator (collects problems with their key paths)."""
    checks = {"max_ttl": positive, "resend_max": positive}
    section = raw.get("remote")
    table = {k: val for k, val in section.items() if k != "allow"} if _table(section) else section
    found = v.section({"remote": table} if "remote" in raw else {}, "remote", RemoteConfig, checks)
    if found is not None and found.key is not None and len(found.key) < MIN_KEY:
        v.add("remote.key", f"expected at least {MIN_KEY} characters (the key is not shown)")
    if found is None or not _table(section) or "allow" not in section:
        return found or RemoteConfig()
    allow = section["allow"]
    if not isinstance(allow, list) or not all(isinstance(n, str) for n in allow):
        v.add("remote.allow", f"expected an array of command names, got {kind(allow)}")
        return found
    unknown = [n for n in allow if n not in NAMES]
    if unknown:
        v.add("remote.allow", f"expected names among {', '.join(NAMES)}, got {unknown!r}")
        return found
    return RemoteConfig(
        found.enabled, tuple(dict.fromkeys(allow)), found.key, found.max_ttl, found.resend_max
    )


def homeassistant(v: Any, raw: Mapping[str, Any]) -> HomeAssistantConfig:
    checks = {"prefix": lambda p: None if TOPIC_LEVEL.match(p) else "expected one topic level"}
    return v.section(raw, "homeassistant", HomeAssistantConfig, checks) or HomeAssistantConfig()


def _table(value: Any) -> bool:
    return isinstance(value, Mapping)
