"""What a damaged-database check and salvage cost at boot, on a database of `--mb` megabytes.

Builds a database of the current schema filled with records (18 random metrics, ~0.2 KiB each)
and sample blocks, then times: `PRAGMA quick_check` (what the Writer runs at every open), the
salvage of the whole file with the sqlite3 shell's `.recover` when it exists, and without it
(table-by-table copy), after overwriting one page in the middle of `records`.

    python bench/bench_salvage.py [--mb 60]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from unittest import mock

from telemetry import salvage, store, stored_metrics


def build(path: Path, mb: int) -> None:
    db = store.open_db(path)
    rng = random.Random(1)
    rid = 0
    with store.transaction(db.conn):
        db.conn.execute("INSERT INTO devices (name) VALUES ('mppt')")
        while path.stat().st_size < mb * 1024 * 1024:
            rows = []
            for _ in range(5000):
                rid += 1
                metrics = {f"m{i}": rng.random() * 100 for i in range(18)}
                rows.append(
                    (rid, "mppt", 1.7e9 + rid * 60, 1, 60, rid * 60, stored_metrics.encode(metrics))
                )
            db.conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            blob = [
                (rid * 60 - 59 + i, rid * 60 + i, 1, 0.0, 1.0, os.urandom(200))
                for i in range(0, 60 * 1000, 60)
            ]
            db.conn.executemany(
                "INSERT OR IGNORE INTO sample_blocks VALUES (?, ?, ?, ?, ?, ?)", blob
            )
            db.conn.execute("COMMIT")
            db.conn.execute("BEGIN IMMEDIATE")
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def damage_records(path: Path) -> None:
    conn = sqlite3.connect(path)
    pages = [
        p
        for (p,) in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'records' AND pagetype = 'leaf'"
        )
    ]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as f:
        f.seek((pages[len(pages) // 2] - 1) * size)
        f.write(os.urandom(size))


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "edged.db"
        build(path, args.mb)
        print(f"database: {path.stat().st_size / 1e6:.1f} MB")
        db = store.open_db(path)
        seconds, result = timed(lambda: store.quick_check(db))
        print(f"quick_check (page cache warm): {seconds:.2f} s -> {result or 'ok'}")
        db.close()
        damage_records(path)
        for tool in (True, False):
            copy = Path(tmp) / f"damaged-{tool}.db"
            copy.write_bytes(path.read_bytes())
            fresh = store.open_db(Path(tmp) / f"fresh-{tool}.db")
            with mock.patch("shutil.which", return_value=None if not tool else "sqlite3"):
                t0 = time.perf_counter()
                rec = salvage.salvage(copy, fresh.conn, "bench", 0.0)
                seconds = time.perf_counter() - t0
            label = "sqlite3 shell offered" if tool else "no sqlite3 shell"
            used = ".recover used" if rec.recover_tool else "copied from the damaged file"
            print(
                f"salvage, {label} ({used}): {seconds:.2f} s, {sum(rec.copied.values())} rows,"
                f" {rec.lost_spots} damaged spots stepped over"
            )
            fresh.close()


if __name__ == "__main__":
    main()
