"""Who opens the database how: the daemon in exclusive mode, everyone else through its door.

A process that `hold`s a database (the daemon, before its Writer opens it) opens every
connection to it with SQLite's `unix-excl` VFS: the WAL index is kept in the process's heap,
shared by its connections, instead of in a `-shm` file on the SD card, and other processes are
locked out. Any other process asks the holder's door (`telemetry.door`) first, and opens the file
itself only when nobody answers there: no daemon, or a killed one's socket.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from telemetry import door_client
from telemetry.database import Database
from telemetry.door import DoorInUse, DoorServer
from telemetry.door_client import DoorConnection
from telemetry.lock import DatabaseBusy, DatabaseLock

log = logging.getLogger(__name__)

EXCLUSIVE_VFS = "unix-excl"
DOOR_SUFFIX = ".door"
MAX_SOCKET_PATH = 107
"""The longest path a Unix socket may bind to (sun_path is 108 bytes with its NUL)."""

_held: set[Path] = set()
os.register_at_fork(after_in_child=_held.clear)  # a forked child holds nothing: the lock is ours


def door_path(db: str | Path) -> Path:
    """The door's socket, beside the database: any process that knows the file finds it."""
    return Path(f"{Path(db).resolve()}{DOOR_SUFFIX}")


def can_hold(db: str | Path) -> bool:
    """False when the door's path is too long for a socket: the daemon then shares the file
    in plain WAL mode, as before (and says so)."""
    return len(str(door_path(db)).encode()) <= MAX_SOCKET_PATH


def hold(db: str | Path) -> None:
    """From now on this process opens `db` exclusively (call before the first connection)."""
    _held.add(Path(db).resolve())


class Holding:
    """A daemon's hold on its database and the door it keeps for other processes: held from
    construction (before the Writer's first connection), the door opened once the Writer
    has the file and closed before its final commit, released once its connections closed.
    A door whose path cannot be a socket (`can_hold`) leaves the database shared, as before."""

    def __init__(self, db: str | Path, open_session: Callable[..., Database]) -> None:
        """`open_session(readonly=...)` gives a session its handle (the daemon passes the
        store's `open_db` without migrating: its Writer has)."""
        self.db, self.door = db, None
        if not can_hold(db):
            log.warning(
                "database %s: its door's path is too long for a socket; the database stays"
                " shared (a -shm file beside it, more SD writes)",
                db,
            )
            return
        self.door = DoorServer(door_path(db), open_session)
        try:
            # Listening from now on: a client knocking while the Writer still checks the file
            # waits in the socket's backlog, served once `open_door` ("locked" at no time).
            self.door.listen()
        except DoorInUse:  # the same config started twice: said as the Writer's lock says it
            lock = DatabaseLock(db)
            raise DatabaseBusy(lock.path, lock.holder_pid()) from None
        hold(db)

    @property
    def counts(self) -> dict[str, int] | None:
        return dict(self.door.counts) if self.door is not None else None

    def open_door(self) -> None:
        if self.door is not None:
            self.door.start()

    def close_door(self) -> None:
        if self.door is not None:
            self.door.stop()

    def release(self) -> None:
        """After the last connection closed (or a failed start: the socket goes too)."""
        if self.door is not None:
            self.door.stop()
        release(self.db)


def release(db: str | Path) -> None:
    _held.discard(Path(db).resolve())


def held(db: str | Path) -> bool:
    return Path(db).resolve() in _held


def connect(db: Path, *, readonly: bool) -> sqlite3.Connection | DoorConnection:
    """A connection to `db`: in-process exclusive, through the holder's door, or direct."""
    if held(db):
        uri = f"file:{quote(str(db))}?vfs={EXCLUSIVE_VFS}"
        if readonly:
            return sqlite3.connect(f"{uri}&mode=ro", uri=True, check_same_thread=False)
        return sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    door = door_client.connect(door_path(db), readonly=readonly)
    if door is not None:
        return door
    if readonly:
        uri = f"file:{quote(str(db))}?mode=ro"
        return sqlite3.connect(uri, uri=True, check_same_thread=False)
    return sqlite3.connect(db, check_same_thread=False, isolation_level=None)
