"""An offline upgrade and its rollback, for real: bundles built by scripts/bundle, installed by
scripts/install into a scratch root with their venvs, the daemon started and checked by
scripts/release.py (no systemd here: it runs the daemon itself and reads its READY, STATUS and
WATCHDOG datagrams as systemd would).

Three releases built from copies of this tree: A (this version), B (a newer version adding a
schema migration) and C (newer still, another migration, and a daemon that hangs before READY).
A -> B must keep the database and the config and migrate; B -> C must roll back to B with the
database as B left it (C had migrated it: the copy taken before the upgrade is put back).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from telemetry import exclusive
from tests.peers.daemon import write_config
from tests.peers.replay import wait_until
from tests.test_install import scratch_root

ROOT = Path(__file__).resolve().parent.parent
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="installing sets owners: needs root")
RELEASE = ROOT / "scripts" / "release.py"


def source_copy(dest: Path, version: str, migrations: tuple[str, ...], hang: bool = False) -> Path:
    """This tree's tracked files, with another version, an extra migration, a hang before READY."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        target = dest / name.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name.decode()).is_file():
            shutil.copy2(ROOT / name.decode(), target)
    pyproject = dest / "pyproject.toml"
    pyproject.write_text(
        re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text())
    )
    schema = dest / "telemetry" / "schema.py"
    added = "".join(f"MIGRATIONS.append({sql!r})\n" for sql in migrations)
    text = schema.read_text()
    assert text.count("\nSCHEMA_VERSION = len(MIGRATIONS)") == 1
    schema.write_text(text.replace("\nSCHEMA_VERSION =", f"\n{added}SCHEMA_VERSION ="))
    if hang:
        daemon = dest / "edged" / "daemon.py"
        text = daemon.read_text()
        ready = "        self.watchdog.ready("
        assert text.count(ready) == 1
        daemon.write_text(text.replace(ready, "        time.sleep(3600)\n" + ready))
    return dest


def bundle(src: Path, out: Path) -> Path:
    arch = platform.machine()
    made = subprocess.run(
        [
            str(src / "scripts" / "bundle"),
            "--arch",
            arch,
            "--out",
            str(out),
            "--python",
            str(ROOT / ".venv" / "bin" / "python"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if made.returncode != 0 and "Could not find a version" in made.stderr:
        pytest.skip(f"no package index reachable to fetch the wheels: {made.stderr[-300:]}")
    assert made.returncode == 0, made.stderr
    tarball = next(out.glob(f"edged-*-{arch}.tar.gz"))
    subprocess.run(["tar", "xzf", str(tarball), "-C", str(out)], check=True, timeout=120)
    return next(p for p in out.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("bundles")
    sources = {
        "A": ROOT,
        "B": source_copy(base / "src-b", "0.1.1", ("CREATE TABLE probe_b (x)",)),
        "C": source_copy(
            base / "src-c",
            "0.1.2",
            ("CREATE TABLE probe_b (x)", "CREATE TABLE probe_c (x)"),
            hang=True,
        ),
    }
    return {name: bundle(src, base / f"out-{name}") for name, src in sources.items()}


def install(bundle_dir: Path, root: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bundle_dir / "scripts" / "install"), "--root", str(root), "--venv", *extra],
        capture_output=True,
        text=True,
        timeout=900,
    )


def release(root: Path, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(RELEASE), command, "--root", str(root), "--ready-timeout", "120"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def running_release(root: Path) -> str:
    """The release dir the running daemon's interpreter comes from (its command line)."""
    pid = int((root / "run" / "edged" / "edged.pid").read_text())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    match = re.search(r"/releases/([^/]+)/venv/", " ".join(c.decode() for c in cmdline))
    assert match, cmdline
    return match[1]


def query(db: Path, sql: str) -> list[tuple]:
    conn = exclusive.connect(db, readonly=False)  # autocommit; through the daemon when it runs
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def tables(db: Path) -> set[str]:
    return {r[0] for r in query(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}


@AS_ROOT
def test_an_upgrade_keeps_the_data_and_a_broken_one_rolls_back(bundles, tmp_path):
    root = scratch_root(tmp_path / "root")
    state = root / "var" / "lib" / "edged"
    state.mkdir(parents=True)
    (root / "etc" / "edged").mkdir()
    config = root / "etc" / "edged" / "edged.toml"
    write_config(state, devices="", broker_port=None).rename(config)
    db = state / "edged.db"
    try:
        first = install(bundles["A"], root)
        assert first.returncode == 0, first.stderr
        assert "installed (not started)" in first.stderr
        assert release(root, "start").returncode == 0
        a = running_release(root)
        assert a.startswith("0.1.0-")
        wait_until(lambda: db.exists() and query(db, "PRAGMA user_version"), 60, what="the db")
        v_a = query(db, "PRAGMA user_version")[0][0]
        query(db, "INSERT INTO kv (key, value) VALUES ('site-mark', 'kept')")  # the site's data
        site_config = config.read_text() + "# edited on site\n"
        config.write_text(site_config)

        upgraded = install(bundles["B"], root, "--settle", "6")
        assert upgraded.returncode == 0, upgraded.stderr
        b = running_release(root)
        assert b.startswith("0.1.1-") and f"{b} is running" in upgraded.stderr
        assert query(db, "PRAGMA user_version")[0][0] == v_a + 1 and "probe_b" in tables(db)
        assert query(db, "SELECT value FROM kv WHERE key = 'site-mark'") == [("kept",)]
        assert config.read_text() == site_config
        base = root / "opt" / "edged"
        assert os.readlink(base / ".venv") == f"releases/{b}/venv"
        assert os.readlink(base / "previous") == f"releases/{a}"
        assert not list(state.glob("*.before-upgrade"))  # the copy went with the success

        assert f"schema v{v_a} -> v{v_a + 1}: copy kept" in upgraded.stderr
        os.chown(db, 4242, 4242)  # as the service's user edged owns it on the Pi
        uid_before, mode_before = db.stat().st_uid, db.stat().st_mode

        broken = install(bundles["C"], root, "--ready-timeout", "25", "--settle", "6")
        assert broken.returncode == 1, broken.stderr
        assert "no READY within 25 s" in broken.stderr
        assert "database put back" in broken.stderr and f"{b} is running again" in broken.stderr
        assert running_release(root) == b  # the previous release runs again
        assert os.readlink(base / ".venv") == f"releases/{b}/venv"
        assert query(db, "PRAGMA user_version")[0][0] == v_a + 1  # as B left it
        assert "probe_c" not in tables(db) and "probe_b" in tables(db)
        assert db.stat().st_uid == uid_before and db.stat().st_mode == mode_before
        assert query(db, "SELECT value FROM kv WHERE key = 'site-mark'") == [("kept",)]
        hung = [
            p
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and f"{base}/releases/0.1.2-".encode() in _cmdline(p)
        ]  # this root's only: a second run of the suite may be upgrading its own
        assert hung == []  # the hung daemon of C was stopped
        out = subprocess.run(
            [str(base / ".venv" / "bin" / "edged"), "status", "--json", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
    finally:
        release(root, "stop")


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""
