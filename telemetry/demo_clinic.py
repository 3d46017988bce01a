"""The demo clinic's patient database that `edged simulate` backs up: a small SQLite file
standing in for OpenClinic's MariaDB, and the dump command the real backup script runs on it.

Here, not in the command, because only telemetry/ runs SQL (docs/architecture.md). It never
touches edged's own database; it exists so that the simulated backup job has something real to
dump and copy.
"""

from __future__ import annotations

import shlex
import sqlite3
import sys
from pathlib import Path

DEMO_PATIENTS = ("Awa", "Moussa")

_DUMP = "import sqlite3, sys; [print(line) for line in sqlite3.connect(sys.argv[1]).iterdump()]"


def build_demo_clinic_database(path: Path) -> None:
    """Create `path` with a `patients` table holding the demo patients, once: run again on the
    same working folder (a second `edged simulate`), it leaves the file as it is."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute("CREATE TABLE IF NOT EXISTS patients (id INTEGER PRIMARY KEY, name TEXT)")
            if not conn.execute("SELECT count(*) FROM patients").fetchone()[0]:
                conn.executemany(
                    "INSERT INTO patients (name) VALUES (?)", [(n,) for n in DEMO_PATIENTS]
                )
    finally:
        conn.close()


def demo_clinic_dump_command(path: Path) -> str:
    """A shell command printing `path` as SQL on stdout (what `mysqldump` prints on a site),
    for the backup script's `--dump-command`: this interpreter, so no sqlite3 CLI is needed."""
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(_DUMP)} {shlex.quote(str(path))}"
