"""Unix seconds, as sites send them, to the aware datetimes PostgreSQL stores as timestamptz."""

from __future__ import annotations

from datetime import UTC, datetime


def when(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)
