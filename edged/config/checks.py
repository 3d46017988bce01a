"""Value checks every config section shares: each returns None when fine, else what was expected."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def kind(val: Any) -> str:
    """How a TOML value reads in a problem line: "an integer", "a table"..."""
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(val), type(val).__name__)


def match(pattern: re.Pattern, what: str) -> Callable[[Any], str | None]:
    return lambda val: None if pattern.match(val) else f"expected only {what} characters"


def positive(val: Any) -> str | None:
    return None if val > 0 else "expected a positive number"


def port(val: Any) -> str | None:
    return None if 0 < val < 65536 else "expected a TCP port 1-65535"


def time_zone(val: Any) -> str | None:
    try:
        ZoneInfo(val)
    except (ZoneInfoNotFoundError, ValueError):
        return "expected an IANA time zone such as Africa/Bamako"
    return None
