"""The checks config sections share: value checks (each returns None when fine, else what was
expected), arrays of strings, arrays of tables and the names that must be unique in them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
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


def expect(ok: Callable[[Any], bool], expected: str) -> Callable[[Any], str | None]:
    """A check from a predicate and what it expects."""
    return lambda val: None if ok(val) else expected


def one_of(names: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda val: None if val in names else f"expected one of {', '.join(names)}"


percent = expect(lambda x: 0 <= x <= 100, "expected a state of charge 0-100 (%)")
not_negative = expect(lambda x: x >= 0, "expected a number >= 0")


def strings(
    v: Any,
    table: Mapping[str, Any],
    key: str,
    path: str,
    check: Callable[[Any], str | None] | None = None,
) -> tuple[str, ...] | None:
    """An array of non-empty strings as a tuple; None when absent or wrong (problem added)."""
    if key not in table:
        return None
    val = table[key]
    ok = isinstance(val, list) and all(isinstance(s, str) and s for s in val)
    message = (check(val) if check else None) if ok else "expected an array of non-empty strings"
    if message:
        v.add(f"{path}.{key}", f"{message}, got {val!r}")
        return None
    return tuple(val)


def tables(v: Any, raw: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each table of the array of tables `raw` (`[[path]]`) with its key path (`jobs[2]`);
    anything else in the array is a problem at its own path, and the rest are still judged."""
    for i, item in enumerate(v.array(raw, path)):
        where = f"{path}[{i}]"
        if isinstance(item, Mapping):
            yield where, item
        else:
            v.add(where, f"expected a table, got {kind(item)}")


class Unique:
    """The names an array of tables has used so far (device ids, job names): a second use is a
    problem at its key path, said whatever else is wrong with either table, since it is the one
    problem a typo fix elsewhere will not show."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.seen: set[str] = set()

    def twice(self, v: Any, path: str, name: str) -> bool:
        """True, and the problem said, when `name` was used before."""
        if name in self.seen:
            v.add(path, f"expected a unique {self.what}, {name!r} is used twice")
            return True
        self.seen.add(name)
        return False
