"""`[remote]` and `[homeassistant]`: validated like every section, no I/O (edged.config.loader).

The command names are the wire module's (`telemetry.commands.NAMES`), so a name allowed here is
one the daemon knows. A key shorter than 16 characters is refused: it is the only thing between
a leaked broker password and a command run on a site.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from edged.config.checks import kind, positive
from edged.config.settings import HomeAssistantConfig, RemoteConfig
from telemetry.commands import NAMES

MIN_KEY = 16
TOPIC_LEVEL = re.compile(r"^[^#+\s/]+$")


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
