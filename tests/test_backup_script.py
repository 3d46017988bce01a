"""scripts/backup-openclinic with real bash, the real sqlite3 CLI as the dump command and a real
SQLite database: the backup restores, a failed or stopped run leaves nothing that looks like a
backup and never touches older ones, retention, the free-space check, and a run under
JobProcess as edged runs it."""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

from edged.power.jobs.process import JobProcess
from edged.power.jobs.progress import parse_progress

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "backup-openclinic"
SQLITE3 = "/usr/bin/sqlite3"
ROWS = [(1, "Awa Traoré", "paludisme"), (2, "Moussa Keïta", "consultation prénatale")]

pytestmark = pytest.mark.skipif(not os.path.exists(SQLITE3), reason="needs the sqlite3 CLI")


class Site:
    """A clinic's database and documents, and an empty backup disk, under tmp_path."""

    def __init__(self, root: Path) -> None:
        self.db, self.docs, self.dest = root / "openclinic.db", root / "documents", root / "usb"
        with sqlite3.connect(self.db) as conn:
            conn.execute("CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT, note TEXT)")
            conn.executemany("INSERT INTO patients VALUES (?, ?, ?)", ROWS)
        conn.close()
        (self.docs / "2026" / "mars").mkdir(parents=True)
        (self.docs / "2026" / "mars" / "radio n°1.txt").write_text("radio thorax\n")
        (self.docs / "index.txt").write_bytes(os.urandom(3000))
        self.dest.mkdir()
        self.dump = f"{SQLITE3} {self.db} .dump"

    def args(self, *extra: str) -> list[str]:
        return [str(SCRIPT), "--dest", str(self.dest), "--files", str(self.docs), *extra]

    def env(self, stamp: str, dump: str | None = None) -> dict[str, str]:
        return {**os.environ, "BACKUP_STAMP": stamp, "DUMP_COMMAND": dump or self.dump}

    def run(self, stamp: str, *extra: str, dump: str | None = None):
        return subprocess.run(
            self.args(*extra), env=self.env(stamp, dump), capture_output=True, text=True, timeout=60
        )

    def listing(self) -> list[str]:
        return sorted(p.name for p in self.dest.iterdir() if not p.name.startswith("."))


@pytest.fixture
def site(tmp_path) -> Site:
    return Site(tmp_path)


def verified(backup: Path) -> bool:
    return (
        subprocess.run(
            ["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=backup, capture_output=True
        ).returncode
        == 0
    )


def progress(stdout: str) -> list[float]:
    return [p for p in map(parse_progress, stdout.splitlines()) if p is not None]


def test_backup_restores_database_and_files(site, tmp_path):
    done = site.run("20260315-101500")
    assert done.returncode == 0, done.stderr
    assert site.listing() == ["openclinic-20260315-101500"]
    backup = site.dest / "openclinic-20260315-101500"
    assert sorted(p.name for p in backup.iterdir()) == [
        "SHA256SUMS",
        "database.sql.gz",
        "files.tar.gz",
    ]
    assert verified(backup)
    assert backup.stat().st_mode & 0o077 == 0  # patient records: the owner's only
    restored = tmp_path / "restored.db"
    dump = gzip.decompress((backup / "database.sql.gz").read_bytes())
    subprocess.run([SQLITE3, str(restored)], input=dump, check=True, timeout=30)
    with sqlite3.connect(restored) as conn:
        assert conn.execute("SELECT * FROM patients ORDER BY id").fetchall() == ROWS
    conn.close()
    out = tmp_path / "out"
    with tarfile.open(backup / "files.tar.gz") as archive:
        archive.extractall(out, filter="data")
    copy = out / str(site.docs).lstrip("/")
    assert (copy / "2026" / "mars" / "radio n°1.txt").read_text() == "radio thorax\n"
    assert (copy / "index.txt").read_bytes() == (site.docs / "index.txt").read_bytes()
    steps = progress(done.stdout)
    assert steps == sorted(steps) and steps[-1] == 100.0


@pytest.mark.parametrize(
    "dump",
    [
        f"{SQLITE3} -bail {{db}} 'SELECT * FROM no_such_table'",  # fails at once
        f"{SQLITE3} {{db}} .dump; exit 4",  # writes a whole dump, then fails: pipefail sees it
        "true",  # succeeds with nothing: an empty dump is no backup
    ],
)
def test_failed_dump_leaves_no_backup_and_keeps_older_ones(site, dump):
    assert site.run("20260315-101500").returncode == 0
    failed = site.run("20260316-101500", dump=dump.format(db=site.db))
    assert failed.returncode == 1
    assert "backup-openclinic: error: the database dump" in failed.stderr
    assert "progress: 60" not in failed.stdout
    assert site.listing() == ["openclinic-20260315-101500"]  # no new folder, no .partial
    assert verified(site.dest / "openclinic-20260315-101500")


def test_retention_keeps_the_newest_complete_backups(site):
    (site.dest / "openclinic-20260101-000000.partial").mkdir()  # left by a power cut
    (site.dest / "openclinic-notes").mkdir()  # not a backup: never touched
    for stamp in ("20260315-101500", "20260315-101501", "20260316-080000"):
        done = site.run(stamp, "--keep", "2")
        assert done.returncode == 0, done.stderr
    assert site.listing() == [
        "openclinic-20260315-101501",
        "openclinic-20260316-080000",
        "openclinic-notes",
    ]
    assert all(verified(site.dest / name) for name in site.listing()[:2])


def test_refuses_when_free_space_is_below_the_previous_backup(site):
    old = site.dest / "openclinic-20260301-000000"
    old.mkdir()
    huge = shutil.disk_usage(site.dest).free + 2**30
    with open(old / "database.sql.gz", "wb") as f:  # sparse: takes no real space
        f.truncate(huge)
    failed = site.run("20260315-101500")
    assert failed.returncode == 1
    assert "not enough free space" in failed.stderr
    assert site.listing() == ["openclinic-20260301-000000"]
    assert (old / "database.sql.gz").stat().st_size == huge


def test_bad_destination_and_usage(site, tmp_path):
    missing = site.run("20260315-101500", "--dest", str(tmp_path / "unplugged"))
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr
    assert site.run("20260315-101500", "--keep", "0").returncode == 1
    assert site.run("20260315-101500", "--files", str(tmp_path / "nope")).returncode == 1
    unmounted = site.run("20260315-101500", "--require-mount")  # a plain folder, not a disk
    assert unmounted.returncode == 1 and "not a mounted disk" in unmounted.stderr
    usage = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 2 and "usage:" in usage.stderr
    assert site.listing() == []


def test_runs_as_an_edged_job(site):
    job = JobProcess("backup", site.args("--keep", "3"), env=site.env("20260315-101500"))
    job.start()
    assert job.wait(60) == 0, job.output_tail
    assert job.progress == 100.0
    assert "backup complete" in job.output_tail
    assert site.listing() == ["openclinic-20260315-101500"]


def test_stopped_job_removes_its_partial_backup(site):
    slow_dump = f"{site.dump}; echo dumped; sleep 100"
    job = JobProcess("backup", site.args(), env=site.env("20260315-101500", slow_dump))
    job.start()
    partial = site.dest / "openclinic-20260315-101500.partial"
    deadline = time.monotonic() + 10
    while not (partial / "database.sql.gz").exists() or job.progress != 10.0:
        assert time.monotonic() < deadline and job.poll() is None, job.output_tail
        threading.Event().wait(0.02)
    assert job.terminate(grace=10) == 143  # its TERM trap ran: exit 128 + 15
    assert site.listing() == []
    assert "removed the unfinished backup" in job.output_tail
