"""One progress line that updates in place (`edged backup --now`), not a line per second.

On a terminal the line is rewritten (carriage return, erase to the end of the line); into a file,
a pipe or the journal a new line is printed only when the wording changes (started, suspended,
resumed), never for a new percent: a log of a one-hour backup stays a few lines long.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

_ERASE = "\x1b[K"


def _shape(text: str) -> str:
    return re.sub(r"\d+", "#", text)


def show(text: str, shown: str, out: TextIO | None = None) -> str:
    """Show `text` in place of `shown` (what is on screen, "" for nothing); returns `text`."""
    out = out or sys.stdout
    if text == shown:
        return shown
    if out.isatty():
        out.write(f"\r{text}{_ERASE}")
        out.flush()
    elif _shape(text) != _shape(shown):
        out.write(text + "\n")
        out.flush()
    return text


def end(shown: str, out: TextIO | None = None) -> None:
    """Close the line in place (the result goes under it)."""
    out = out or sys.stdout
    if shown and out.isatty():
        out.write("\n")
        out.flush()
