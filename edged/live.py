"""The daemon's live view, kept in RAM (`/run`) so `edged status` sees now, not the last commit.

SQLite on the SD card is written in batches (every `storage.commit_interval`), so what it holds can
be that old; writing the live view there every few seconds would cost the card for nothing. The
daemon rewrites this small JSON file (atomically: temp file + rename) every few seconds on tmpfs;
`edged status` trusts it while its timestamp is fresh, and otherwise knows the daemon is not
running and falls back to the database, aged. Its folder is the daemon's own (`candidates`,
`claim`): a second daemon that would share it refuses to start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from edged.config.settings import Config
from telemetry.lock import DatabaseLock, ExclusiveLock, LockBusy

log = logging.getLogger(__name__)

FRESH_FOR = 15.0
"""A live file older than this (seconds) means the daemon is stopped or hung."""


class ViewRequests:
    """Other threads asking the daemon's main loop for a fresh view.

    The view reads state the main loop owns (runners, alarms, the power service, the clock), so
    only that loop writes it. A remote `status` asks and waits for the view; a device's state
    change asks and goes on. A request made while a view is being built gets the next one.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._wanted = False
        self._written = 0

    @property
    def wanted(self) -> bool:
        return self._wanted

    def ask(self) -> None:
        with self._changed:
            self._wanted = True

    def ask_and_wait(self, timeout: float) -> bool:
        """True once a view was written after the ask; False after `timeout` seconds."""
        with self._changed:
            asked_at = self._written
            self._wanted = True
            return self._changed.wait_for(lambda: self._written > asked_at, timeout)

    def building(self) -> None:
        """The main loop starts a view: the requests so far are served by it."""
        with self._changed:
            self._wanted = False

    def written(self) -> None:
        """The view is written (or its write failed, counted): the waiting asks go on."""
        with self._changed:
            self._written += 1
            self._changed.notify_all()


def write(path: Path, view: dict[str, Any]) -> None:
    """Replace the live file; a failure is logged once by the caller's counter, never raised."""
    tmp = path.with_name(path.name + ".tmp")
    data = json.dumps({"written": time.time(), **view}, default=str, separators=(",", ":"))
    tmp.write_text(data)
    os.replace(tmp, path)


def read(path: Path, now: float | None = None) -> dict[str, Any] | None:
    """The live view if the daemon wrote it recently, else None."""
    try:
        view = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(view, dict) or view.get("stopped"):
        return None
    now = time.time() if now is None else now
    written = view.get("written")
    if not isinstance(written, int | float) or not 0 <= now - written <= FRESH_FOR:
        return None
    return view


def mark_stopped(path: Path) -> None:
    """Replace the live view by the time of a clean stop (tmpfs: gone after a reboot)."""
    try:
        write(path, {"stopped": True})
    except OSError as exc:
        log.warning("cannot mark the live status file %s stopped: %s", path, exc)
        path.unlink(missing_ok=True)


def last_written(path: Path) -> float | None:
    """When the daemon last wrote its live view, fresh or not: when it stopped (or hung)."""
    try:
        written = json.loads(path.read_text()).get("written")
    except (OSError, ValueError, AttributeError):
        return None
    return float(written) if isinstance(written, int | float) else None


RUN_DIR = Path("/run/edged")
"""systemd's RuntimeDirectory= for the unit (tmpfs, made at each start)."""
LOCK_NAME = "daemon.lock"


class LiveInUse(LockBusy):
    """Another daemon holds this live view's directory: its live file, its `edged backup --now`
    requests and its job locks (`edged run` refuses to start: exit 2, like a database in use)."""


class LiveLock(ExclusiveLock):
    busy = LiveInUse
    what = "live view lock"


def candidates(config: Config) -> list[Path]:
    """Where the live file is: `storage.live_path` when given, else `/run/edged/{site.id}/
    live.json`; beside the database (`{db stem}.live/live.json`) when that folder cannot be
    made. A folder of its own per site and per database, never one shared path: the `backup
    --now` requests and job locks live beside the file, and two daemons on one machine (a test
    bench, a second site) read each other's live view and run each other's requests."""
    db = Path(config.storage.path)
    given = config.storage.live_path
    primary = Path(given) if given else RUN_DIR / config.site.id / "live.json"
    return [primary, db.with_name(db.stem + ".live") / "live.json"]


def writable_path(config: Config) -> Path:
    """The first candidate whose folder exists or can be made."""
    primary, fallback = candidates(config)
    try:
        primary.parent.mkdir(parents=True, exist_ok=True)
        return primary
    except OSError:
        log.info("cannot use %s; the live status goes to %s", primary.parent, fallback)
        with contextlib.suppress(OSError):  # writes there fail later, counted and logged once
            fallback.parent.mkdir(parents=True, exist_ok=True)
        return fallback


def claim(path: Path) -> LiveLock:
    """Own the live file's folder for this process's life (flock on `daemon.lock` in it), or
    raise LiveInUse naming the holder's pid. The real folder's: a second daemon reaching it
    through a symlink meets the same lock."""
    lock = LiveLock(path.parent.resolve() / LOCK_NAME)
    lock.acquire()
    return lock


def claim_for(config: Config, path: Path) -> LiveLock:
    """`claim`, for the daemon of `config`. When the database is another daemon's too,
    DatabaseBusy says so instead of LiveInUse: the deeper conflict (one config started twice)."""
    try:
        return claim(path)
    except LiveInUse:
        probe = DatabaseLock(config.storage.path)
        probe.acquire()  # DatabaseBusy
        probe.release()
        raise
