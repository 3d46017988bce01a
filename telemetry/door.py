"""The database door: other processes' queries, run by the daemon that holds the database.

The daemon opens the database with SQLite's `unix-excl` VFS (`telemetry.exclusive`): its
WAL index lives in the heap instead of a `-shm` file whose pages each commit dirtied and the
kernel wrote back to the SD card (some 60 % of what a site wrote). The price is that no other
process may open the file while the daemon runs; `edged status`, `edged alarms ack`, the
hourly roll-up child and the report job reach it through this door instead: a Unix socket
beside the database, one session (one connection of the daemon's, in its process) per client,
statements in, rows out (`telemetry.door_wire`). `telemetry.door_client` makes that look like
an sqlite3 connection, so the callers' code is the same with or without a daemon.

Only root and the daemon's own user may come in (SO_PEERCRED; the socket is 0600 too). A
session that sends nothing for `IDLE_S` is closed and its transaction rolled back: a stuck
client never blocks the Writer for longer. Every refused peer, broken frame and idle close is
counted and logged; none stops the door or the daemon.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sqlite3
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telemetry import door_wire as wire
from telemetry.database import Database

log = logging.getLogger(__name__)

IDLE_S = 60.0
"""A session silent this long is closed (its transaction rolled back)."""
MAX_SESSIONS = 8
"""Sessions at once; one more is told the door is busy (a CLI retries, a child fails loudly)."""
COUNTERS = ("sessions", "refused", "busy", "bad_frames", "sql_errors", "idle_closed")
_PEERCRED = struct.Struct("3i")


class DoorServer:
    """Accepts on `path` until `stop`; `open_session(readonly)` gives each session its handle."""

    def __init__(self, path: Path, open_session: Callable[[bool], Database]) -> None:
        self.path, self._open = path, open_session
        self.counts = dict.fromkeys(COUNTERS, 0)
        self._lock = threading.Lock()
        self._sessions: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> DoorServer:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a killed daemon's socket: nobody answers behind it
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(old)
        listener.listen(MAX_SESSIONS)
        listener.settimeout(0.5)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, name="db-door", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._listener is not None:
            self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with self._lock:
            for sock in self._sessions:  # their threads roll back and close
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                log.exception("database door: accept failed")
                continue
            self._admit(sock)

    def _admit(self, sock: socket.socket) -> None:
        pid, uid, _gid = _PEERCRED.unpack(
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        )
        if uid not in (0, os.geteuid()):
            self._count("refused")
            log.warning("database door: refused pid %d (uid %d): not root nor edged's", pid, uid)
            _reply_and_close(sock, _error("PermissionError", "not allowed"))
            return
        with self._lock:
            full = len(self._sessions) >= MAX_SESSIONS
            if not full:
                self._sessions.add(sock)
                self.counts["sessions"] += 1
        if full:
            self._count("busy")
            log.warning("database door: %d sessions open, pid %d turned away", MAX_SESSIONS, pid)
            _reply_and_close(sock, _error("OperationalError", "database door busy"))
            return
        threading.Thread(
            target=self._serve, args=(sock, pid), name=f"db-door-{pid}", daemon=True
        ).start()

    def _serve(self, sock: socket.socket, pid: int) -> None:
        session: _Session | None = None
        sock.settimeout(IDLE_S)
        try:
            while not self._stopping.is_set():
                try:
                    request = wire.read_frame(sock.recv)
                except TimeoutError:
                    self._count("idle_closed")
                    log.warning("database door: pid %d silent %.0f s, session closed", pid, IDLE_S)
                    return
                except wire.WireError as exc:
                    self._count("bad_frames")
                    log.warning("database door: pid %d sent a broken frame (%s)", pid, exc)
                    _reply_and_close(sock, _error("WireError", str(exc)))
                    return
                if request is None:  # the client closed
                    return
                if session is None:
                    session, reply = self._open_session(request)
                else:
                    reply = session.handle(request)
                if not reply["ok"] and reply["kind"] != "WireError":
                    self._count("sql_errors")
                elif not reply["ok"]:
                    self._count("bad_frames")
                    log.warning("database door: pid %d: %s", pid, reply["message"])
                sock.sendall(wire.frame(reply))
                if session is None:
                    return
        except OSError:
            return  # the client went away mid-answer, or stop() shut the socket
        finally:
            if session is not None:
                session.close()
            with self._lock:
                self._sessions.discard(sock)
            sock.close()

    def _open_session(self, request: dict[str, Any]) -> tuple[_Session | None, dict[str, Any]]:
        if request.get("op") != "open" or not isinstance(request.get("readonly"), bool):
            return None, _error("WireError", "a session begins with open")
        try:
            return _Session(self._open(request["readonly"])), {"ok": True}
        except Exception as exc:  # a StoreError: the client shows its text
            return None, _error("OperationalError", str(exc))


class _Session:
    """One client's connection and its open cursor (a query read in `FETCH_ROWS` slices)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.cursor: sqlite3.Cursor | None = None

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        try:
            if op == "execute":
                self.cursor = self.db.conn.execute(
                    _text(request, "sql"), wire.unpack_params(request.get("params", []))
                )
                return self._rows(head=True)
            if op == "fetch":
                return self._rows(head=False)
            if op == "executemany":
                batches = request.get("params")
                if not isinstance(batches, list):
                    raise wire.WireError("executemany needs a list of parameter lists")
                sql = _text(request, "sql")
                self.cursor = self.db.conn.executemany(sql, map(wire.unpack_params, batches))
                return self._rows(head=True)
            if op == "script":
                self.cursor = None
                self.db.conn.executescript(_text(request, "sql"))
                return {"ok": True, "in_transaction": self.db.conn.in_transaction}
            raise wire.WireError(f"unknown op {op!r}")
        except wire.WireError as exc:
            return _error("WireError", str(exc))
        except sqlite3.Error as exc:
            return _error(_kind(exc), str(exc))
        except (TypeError, ValueError, OverflowError) as exc:  # wrong parameter count, etc.
            return _error("ProgrammingError", str(exc))

    def _rows(self, head: bool) -> dict[str, Any]:
        cursor = self.cursor
        if cursor is None:
            return {"ok": True, "rows": [], "more": False}
        rows = cursor.fetchmany(wire.FETCH_ROWS) if cursor.description is not None else []
        reply: dict[str, Any] = {
            "ok": True,
            "rows": [wire.pack_row(r) for r in rows],
            "more": len(rows) == wire.FETCH_ROWS,
        }
        if head:
            reply["description"] = [d[0] for d in cursor.description or ()] or None
            reply["rowcount"] = cursor.rowcount
            reply["lastrowid"] = cursor.lastrowid
            reply["in_transaction"] = self.db.conn.in_transaction
        return reply

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self.db.conn.in_transaction:
                self.db.conn.execute("ROLLBACK")
        with contextlib.suppress(sqlite3.Error):
            self.db.close()


def _text(request: dict[str, Any], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str):
        raise wire.WireError(f"{key} must be text")
    return value


def _kind(exc: sqlite3.Error) -> str:
    """The sqlite3 exception's class name; the client raises the same class."""
    return type(exc).__name__


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"ok": False, "kind": kind, "message": message}


def _reply_and_close(sock: socket.socket, reply: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(wire.frame(reply))
    sock.close()
