"""How far a running job is, read from one line of its output.

A job script tells edged its progress by printing, on a line of its own::

    progress: 42        (or `PROGRESS 42.5`, `progress=42`, `progress: 42 %`; 0 to 100)

Lines of the usual tools are understood too, so a job that simply runs them needs nothing
more: a bare percentage token such as rsync's `--info=progress2` line
(`  1,234,567  45%  1.23MB/s    0:00:12 (xfr#3, to-chk=0/10)`) or wget's `45%[===>   ]`, and
restic's `--json` status lines (`{"message_type":"status","percent_done":0.42,...}` -> 42.0).
A bare number (pv -n) is not a percentage unless marked: too many tools print plain counts.

Pure: no I/O, no state; `parse_progress` never raises on any text (job output is external
data: binary garbage, truncated JSON, a 10 MB line without newline). The result is clamped to
0..100 or None. `edged.power.jobs.process` calls it on every line a job prints.
"""

from __future__ import annotations

import json
import math
import re

__all__ = ["parse_progress"]

_OURS = re.compile(r"\s*+progress\s*+[:=]?\s*+(\d++(?:\.\d++)?)\s*+%?\s*+$", re.IGNORECASE)
"""Our convention: the whole line is the keyword and one number (a trailing % is tolerated).
Possessive quantifiers keep matching linear: a long run of blanks cannot backtrack."""

_PERCENT = re.compile(r"(?<![\w.,%])(\d{1,3}(?:\.\d+)?)%(?![\w%])")
"""A percentage token: digits then %, not glued to a word or to a longer number (1,234%)."""

_RESTIC_HINT = '"percent_done"'
MAX_JSON_LINE = 65536
"""Longer lines are not decoded as JSON: a restic status line is a few hundred bytes."""


def parse_progress(line: str) -> float | None:
    """The percentage (0..100) that `line` reports, or None if it reports none."""
    match = _OURS.match(line)
    if match is not None:
        return _clamp(float(match.group(1)))
    stripped = line.strip()
    if stripped.startswith("{") and _RESTIC_HINT in stripped and len(stripped) < MAX_JSON_LINE:
        return _restic(stripped)
    match = _PERCENT.search(line)
    if match is not None:
        return _clamp(float(match.group(1)))
    return None


def _restic(text: str) -> float | None:
    """restic `--json` status: `percent_done` is a fraction 0..1 (summary lines have none)."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested deep enough to be hostile
        return None
    if not isinstance(message, dict) or message.get("message_type") != "status":
        return None
    done = message.get("percent_done")
    if isinstance(done, bool) or not isinstance(done, int | float):
        return None
    try:
        return _clamp(float(done) * 100.0)
    except OverflowError:  # an integer too large for a float
        return None


def _clamp(value: float) -> float | None:
    if not math.isfinite(value):
        return None
    return min(100.0, max(0.0, value))
