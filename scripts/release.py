#!/usr/bin/python3
"""Switch edged to a newly built release, and back to the previous one if the new one fails.

Called by scripts/install once it has built a release (a venv under /opt/edged/releases/ID/venv);
stdlib only, run by /usr/bin/python3, so it works whatever state either release's venv is in.

Layout under /opt/edged (ROOT/opt/edged with --root):
  releases/ID/venv     one venv per release, ID = VERSION-UTCSTAMP
  .venv -> releases/ID/venv    the current release (relative link, swapped atomically); the unit
                               and /usr/local/bin/edged go through it
  previous -> releases/ID      the release before it, kept for a rollback; older ones are pruned

`activate` stops the running daemon (it commits its last batch), keeps a copy of the database if
the new release migrates its schema (the old release refuses a newer schema), swaps the link and
starts the new release. It keeps it only if it reports READY within --ready-timeout and is still
healthy after --settle seconds: not restarted, STATUS not FAILING, and (without systemd) its
watchdog pings arriving. Otherwise it stops it, swaps the link back, puts the database copy back
if the schema changed, starts the previous release again, and exits 1.

Service manager: systemd (systemctl) on the Pi. With --root there is none: the daemon is started
directly (`.venv/bin/edged run`, pid in ROOT/run/edged/edged.pid, log beside it) with our own
$NOTIFY_SOCKET and $WATCHDOG_USEC, which is how the tests exercise the rollback for real.

`rollback` swaps back to `previous` by hand (same checks). `start` and `stop` (with --root only)
start the current release directly and wait for its READY, or stop it: what systemctl does on
the Pi.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

DEFAULT_DB = "/var/lib/edged/edged.db"
FAILED_STOP_S = 20.0
"""SIGTERM to SIGKILL for a release that failed its start: migrations are transactions."""


def say(message: str) -> None:
    print(f"release: {message}", file=sys.stderr, flush=True)


# --- the link ------------------------------------------------------------------------------


class Layout:
    def __init__(self, root: str) -> None:
        self.base = Path(root or "/") / "opt" / "edged"
        self.releases = self.base / "releases"
        self.current_link = self.base / ".venv"
        self.previous_link = self.base / "previous"

    def current(self) -> Path | None:
        """The release dir .venv points into; None for a fresh install."""
        if not self.current_link.is_symlink():
            return None
        return (self.base / os.readlink(self.current_link)).parent.resolve()

    def point(self, link: Path, target: Path) -> None:
        """Replace `link` atomically (rename over it) by a relative link to `target`."""
        tmp = link.with_name(f".{link.name}.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.path.relpath(target, link.parent))
        os.replace(tmp, link)

    def adopt_legacy(self) -> Path | None:
        """An install before releases had a real /opt/edged/.venv: move it into releases/ so it
        can be the previous release. Its scripts name /opt/edged/.venv/bin/python, which will be
        the new release's: they are rewritten to its new place."""
        if not self.current_link.is_dir() or self.current_link.is_symlink():
            return None
        dest = self.releases / f"legacy-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        dest.mkdir(parents=True)
        venv = dest / "venv"
        os.rename(self.current_link, venv)
        old = f"#!{self.current_link}/bin/python".encode()
        for script in (venv / "bin").iterdir():
            if script.is_file() and not script.is_symlink():
                data = script.read_bytes()
                if data.startswith(old):
                    script.write_bytes(f"#!{venv}/bin/python".encode() + data[len(old) :])
        self.point(self.current_link, venv)
        say(f"the previous install's venv is now release {dest.name}")
        return dest

    def prune(self, keep: set[Path]) -> None:
        for release in self.releases.iterdir():
            if release.resolve() not in keep:
                shutil.rmtree(release, ignore_errors=True)


# --- the database ----------------------------------------------------------------------------


def database_path(config: Path) -> Path:
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8"))
        return Path(raw.get("storage", {}).get("path", DEFAULT_DB))
    except (OSError, ValueError):
        return Path(DEFAULT_DB)


def schema_of(db: Path) -> int | None:
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def schema_of_release(release: Path) -> int | None:
    """The schema the release's code migrates to. -I: its own packages, never a checkout's that
    happens to be the current directory."""
    code = "import telemetry.schema as s; print(s.SCHEMA_VERSION)"
    out = subprocess.run(
        [str(release / "venv" / "bin" / "python"), "-I", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return int(out.stdout) if out.returncode == 0 and out.stdout.strip().isdigit() else None


def snapshot(db: Path) -> Path:
    """A consistent copy through SQLite's backup API (the daemon is stopped; WAL included)."""
    copy = db.with_name(db.name + ".before-upgrade")
    free = shutil.disk_usage(db.parent).free
    if free < db.stat().st_size * 1.2 + 16 * 2**20:
        raise SystemExit(
            f"release: not upgraded: {free // 2**20} MB free beside {db}, the copy kept for a "
            f"rollback needs {db.stat().st_size // 2**20} MB (edged doctor shows the disk)"
        )
    src, dst = sqlite3.connect(f"file:{db}?mode=ro", uri=True), sqlite3.connect(copy)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    st = db.stat()  # the daemon's user must be able to write it if it is put back
    os.chown(copy, st.st_uid, st.st_gid)
    os.chmod(copy, st.st_mode & 0o777)
    return copy


def restore(copy: Path, db: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    os.replace(copy, db)


# --- the service -----------------------------------------------------------------------------


class Systemd:
    """The service on the Pi: systemctl does the work, READY included (Type=notify)."""

    def __init__(self, ready_timeout: float) -> None:
        self.ready_timeout = ready_timeout

    def show(self) -> dict[str, str]:
        out = subprocess.run(
            ["systemctl", "show", "edged", "-p", "ActiveState,SubState,NRestarts,StatusText"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)

    def running(self) -> bool:
        return self.show().get("ActiveState") in ("active", "activating", "reloading")

    def stop(self, grace: float = 90) -> None:
        """As the unit says (TimeoutStopSec=90, then SIGKILL); a release that failed its start
        is given less (`grace`): it is hung or broken, and the database copy covers it."""
        try:
            subprocess.run(["systemctl", "stop", "edged"], timeout=grace, check=False)
        except subprocess.TimeoutExpired:
            subprocess.run(["systemctl", "kill", "-s", "KILL", "edged"], timeout=60, check=False)
            subprocess.run(["systemctl", "stop", "edged"], timeout=60, check=False)

    def start(self) -> str | None:
        """None once READY, else why not. `systemctl start` waits for READY=1 (Type=notify)."""
        try:
            out = subprocess.run(
                ["systemctl", "start", "edged"],
                capture_output=True,
                text=True,
                timeout=self.ready_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"no READY within {self.ready_timeout:g} s"
        return None if out.returncode == 0 else f"did not start: {out.stderr.strip()}"

    def healthy_for(self, seconds: float) -> str | None:
        first = self.show()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(2.0, seconds))
            now = self.show()
            if now.get("ActiveState") != "active" or now.get("NRestarts") != first.get("NRestarts"):
                return f"restarted or stopped ({now.get('ActiveState')}/{now.get('SubState')})"
            if now.get("StatusText", "").startswith("FAILING"):
                return now["StatusText"]
        return None


class Direct:
    """No service manager (--root): the daemon as our child, told our $NOTIFY_SOCKET."""

    def __init__(self, root: str, config: Path, ready_timeout: float) -> None:
        self.base = Path(root)
        self.edged = self.base / "opt" / "edged" / ".venv" / "bin" / "edged"
        self.rundir = self.base / "run" / "edged"
        self.pidfile = self.rundir / "edged.pid"
        self.config, self.ready_timeout = config, ready_timeout
        self.sock: socket.socket | None = None
        self.pid: int | None = None

    def _pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        return self._pid() is not None

    def stop(self, grace: float = 90) -> None:
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace  # TimeoutStopSec of the unit
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def start(self) -> str | None:
        self.rundir.mkdir(parents=True, exist_ok=True)
        folder = tempfile.mkdtemp(prefix="edged-notify-")
        atexit.register(shutil.rmtree, folder, True)  # the daemon then notifies no one: counted
        address = Path(folder) / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(address))
        env = {**os.environ, "NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": "10000000"}
        with (self.rundir / "edged.log").open("ab") as log:
            proc = subprocess.Popen(
                [str(self.edged), "run", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,  # it outlives this script, as a service would
            )
        self.pid = proc.pid
        self.pidfile.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return f"exited with status {proc.returncode} before READY"
            if "READY=1" in self._receive(1.0):
                return None
        return f"no READY within {self.ready_timeout:g} s"

    def _receive(self, timeout: float) -> list[str]:
        assert self.sock is not None
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode("utf-8", "replace").splitlines()
        except TimeoutError:
            return []

    def healthy_for(self, seconds: float) -> str | None:
        deadline, last_ping = time.monotonic() + seconds, time.monotonic()
        while time.monotonic() < deadline:
            lines = self._receive(1.0)
            if self.pid is None or not _alive(self.pid):
                return "exited after READY"
            failing = [line for line in lines if line.startswith("STATUS=FAILING")]
            if failing:
                return failing[0][len("STATUS=") :]
            if "WATCHDOG=1" in lines:
                last_ping = time.monotonic()
            elif time.monotonic() - last_ping > 10:
                return "watchdog pings stopped"
        return None


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0]
    except (OSError, IndexError):
        return "zombie"


# --- activate, roll back -------------------------------------------------------------------


def activate(args: argparse.Namespace, new: Path) -> int:
    layout = Layout(args.root)
    config = Path(args.config or Path(args.root or "/") / "etc" / "edged" / "edged.toml")
    service = (
        Direct(args.root, config, args.ready_timeout) if args.root else Systemd(args.ready_timeout)
    )
    previous = layout.current() or layout.adopt_legacy()
    if previous == new.resolve():
        previous = None
    was_running = service.running()
    db = database_path(config)
    if was_running:
        say("stopping edged (it commits its last batch)")
        service.stop()
    # Once stopped: a running daemon holds the database exclusively, nobody else may read it.
    old_schema, new_schema = schema_of(db), schema_of_release(new)
    copy = None
    if previous is not None and old_schema is not None and (new_schema or 1 << 30) > old_schema:
        copy = snapshot(db)
        say(f"database schema v{old_schema} -> v{new_schema}: copy kept in {copy}")
    layout.point(layout.current_link, new / "venv")
    say(f"current release: {new.name}")

    if was_running:
        why = service.start() or service.healthy_for(args.settle)
    else:  # not started by us (a fresh install, a stopped service): it must at least run
        smoke = subprocess.run(
            [str(new / "venv" / "bin" / "edged"), "--version"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        why = None if smoke.returncode == 0 else f"`edged --version` failed: {smoke.stderr}"
    if why is None:
        if previous is not None:
            layout.point(layout.previous_link, previous)
        layout.prune({new.resolve(), *([previous] if previous else [])})
        if copy is not None:
            copy.unlink(missing_ok=True)
        say(f"{new.name} is running" if was_running else f"{new.name} installed (not started)")
        return 0

    say(f"{new.name} FAILED: {why}")
    if was_running:
        service.stop(grace=FAILED_STOP_S)
    if previous is None:
        say("no previous release to go back to: journalctl -u edged -n 50")
        return 1
    layout.point(layout.current_link, previous / "venv")
    if copy is not None:
        if schema_of(db) != old_schema:
            restore(copy, db)
            say(f"database put back as it was before the upgrade (schema v{old_schema})")
        else:
            copy.unlink(missing_ok=True)
    say(f"rolled back to {previous.name}")
    if was_running:
        again = service.start()
        if again is not None:
            say(f"the previous release did not start either: {again}")
            return 1
        say(f"{previous.name} is running again")
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("activate", "rollback", "start", "stop"))
    parser.add_argument("release", nargs="?", help="activate: the release dir (releases/ID)")
    parser.add_argument("--root", default="", help="a scratch root: no systemd, direct daemon")
    parser.add_argument("--config", help="default ROOT/etc/edged/edged.toml")
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=300.0,
        help="seconds the new release has to report READY (default 300)",
    )
    parser.add_argument(
        "--settle", type=float, default=30.0, help="seconds it must then stay healthy (default 30)"
    )
    args = parser.parse_args(argv)
    args.root = "" if args.root in ("", "/") else args.root
    if args.command in ("start", "stop"):
        if not args.root:
            parser.error("start and stop are for --root: on the Pi, systemctl start|stop edged")
        config = Path(args.config or Path(args.root) / "etc" / "edged" / "edged.toml")
        service = Direct(args.root, config, args.ready_timeout)
        if args.command == "stop":
            service.stop()
            return 0
        why = service.start()
        say(why or "edged is running")
        return 0 if why is None else 1
    if args.command == "rollback":
        target = Layout(args.root).previous_link
        if not target.exists():
            say("no previous release kept")
            return 1
        return activate(args, target.resolve())
    if not args.release:
        parser.error("activate needs the release dir")
    return activate(args, Path(args.release).resolve())


if __name__ == "__main__":
    sys.exit(main())
