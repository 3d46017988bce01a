"""Ways to damage a database file on disk, as a bad SD card or a power cut does."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def zero_header(db: Path) -> None:
    with db.open("r+b") as f:
        f.write(bytes(100))


def truncate_half(db: Path) -> None:
    os.truncate(db, db.stat().st_size // 2)


def overwrite_page(table: str):
    def damage(db: Path) -> None:
        conn = sqlite3.connect(db)
        pages = [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = ?", (table,))]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.close()
        assert pages, f"table {table} has no page"
        with db.open("r+b") as f:
            f.seek((pages[len(pages) // 2] - 1) * size)
            f.write(b"\xa5" * size)

    return damage
