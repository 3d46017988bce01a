"""Read-only looks at a database file from beside the daemon: `edged doctor` and the support bundle.

Opened with `mode=ro`: never created, never migrated, never written, so a look at a damaged or
newer database changes nothing a technician may want to see as it was.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from telemetry import exclusive
from telemetry.door_client import DoorConnection


def _connect(path: Path) -> sqlite3.Connection | DoorConnection:
    """Read-only: the file itself, or through the running daemon's door (it holds the file)."""
    return exclusive.connect(path, readonly=True)


def integrity(path: str | Path) -> tuple[int, str]:
    """(schema version, the first line of `PRAGMA quick_check`: "ok" when sound). Raises
    telemetry.database.DatabaseError when the file is no database or cannot be read."""
    conn = _connect(Path(path))
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        first = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    finally:
        conn.close()
    return int(version), str(first)


def file_summary(path: str | Path) -> dict[str, Any]:
    """Sizes, schema, integrity (quick_check) and rows per table; never raises for a damaged
    file (its error is in the summary)."""
    db = Path(path)
    out: dict[str, Any] = {"path": str(db), "exists": db.exists()}
    if not db.exists():
        return out
    out["bytes"] = db.stat().st_size
    wal = Path(f"{db}-wal")
    out["wal_bytes"] = wal.stat().st_size if wal.exists() else 0
    try:
        conn = _connect(db)
        try:
            out["schema"] = conn.execute("PRAGMA user_version").fetchone()[0]
            out["quick_check"] = conn.execute("PRAGMA quick_check(5)").fetchone()[0]
            names = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
            out["rows"] = {
                name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                for (name,) in names
            }
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        out["error"] = str(exc)
    return out
