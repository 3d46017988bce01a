"""Calendar months in UTC (Mali keeps UTC all year): parsing "YYYY-MM" and its bounds. Pure."""

from __future__ import annotations

import datetime as dt
import re

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: str) -> tuple[int, int]:
    """(year, month) from "YYYY-MM"; ValueError on anything else."""
    match = _MONTH.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"expected a month as YYYY-MM, got {text!r}")
    return int(match[1]), int(match[2])


def first_day(month: str) -> dt.date:
    year, number = parse_month(month)
    return dt.date(year, number, 1)


def next_month(month: str) -> str:
    year, number = parse_month(month)
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def previous_month(month: str) -> str:
    year, number = parse_month(month)
    return f"{year - (number == 1)}-{(number - 2) % 12 + 1:02d}"


def bounds(month: str) -> tuple[int, int]:
    """[start, end) of the month in unix seconds."""
    start = dt.datetime.combine(first_day(month), dt.time(), dt.UTC)
    end = dt.datetime.combine(first_day(next_month(month)), dt.time(), dt.UTC)
    return int(start.timestamp()), int(end.timestamp())


def days(month: str) -> list[dt.date]:
    start, end = first_day(month), first_day(next_month(month))
    return [start + dt.timedelta(n) for n in range((end - start).days)]


def month_of(day: dt.date) -> str:
    return f"{day.year}-{day.month:02d}"


def months_since(day: dt.date, month: str) -> int:
    """Whole months from the month of `day` to `month` (0 = the same month)."""
    year, number = parse_month(month)
    return (year - day.year) * 12 + number - day.month


def day_of(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date()
