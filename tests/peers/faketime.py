"""A real wall-clock jump for a real subprocess: libfaketime driven through a control file.

The process sees the wall time written in `control` ("@2026-11-23 10:00:00"), re-read on every
call (FAKETIME_NO_CACHE), so rewriting the file makes its clock jump, as NTP makes a Pi's clock
jump at boot. The monotonic clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC), as on a real box.
`sitecustomize` in faketime_site/ works around libfaketime's broken `clock_nanosleep`.
Needs Debian's `faketime` package (scripts/test installs it).
"""

from __future__ import annotations

import glob
from pathlib import Path

SITE = Path(__file__).parent / "faketime_site"


def library() -> str | None:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    return found[0] if found else None


def set_time(control: Path, when: str) -> None:
    """Make the process's wall clock read `when` ("YYYY-MM-DD HH:MM:SS", UTC) from now on."""
    tmp = control.with_suffix(".tmp")
    tmp.write_text(f"@{when}\n")
    tmp.replace(control)


def environment(control: Path, start: str) -> dict[str, str]:
    lib = library()
    if lib is None:
        raise RuntimeError("libfaketime is not installed (Debian package faketime)")
    set_time(control, start)
    return {
        "LD_PRELOAD": lib,
        "FAKETIME_TIMESTAMP_FILE": str(control),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "PYTHONPATH": str(SITE),
        "TZ": "UTC",
    }
