"""The database door: other processes' queries, run by the daemon that holds the database.

The daemon opens the database with SQLite's `unix-excl` VFS (`telemetry.exclusive`): its
WAL index lives in the heap instead of a `-shm` file whose pages each commit dirtied and the
kernel wrote back to the SD card (some 60 % of what a site wrote). The price is that no other
process may open the file while the daemon runs; `edged status`, `edged alarms ack`, the
hourly roll-up child and the report job reach it through this door instead: a Unix socket
beside the database, one session (one connection of the daemon's, in its process) per client,
statements in, rows out (`telemetry.door_wire`). `telemetry.door_client` makes that look like
an sqlite3 connection, so the callers' code is the same with or without a daemon.

Who may do what follows the database file's own mode (0640, the daemon's user and group): the
socket is 0660, so the kernel lets in only those two; root and the daemon's user (SO_PEERCRED)
may write, the group's members (a nurse's account running `edged status`) only read. Requests,
replies, silences and transactions are bounded (the constants below): a stuck or hostile
client never blocks the Writer for longer than `TRANSACTION_S`. Every refused peer, broken
frame and closed session is counted and logged; none stops the door or the daemon.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telemetry import door_wire as wire
from telemetry.database import Database

log = logging.getLogger(__name__)

IDLE_S = 60.0
"""A session silent this long is closed."""
FRAME_S = 10.0
"""A request begun must be whole within this: a peer trickling bytes holds no session."""
TRANSACTION_S = 60.0
"""A session's transaction open this long is rolled back and the session closed, however
busy the client keeps it: the Writer waits at most this for its lock."""
REPLY_BUDGET = 1024 * 1024
"""Bytes of rows a reply carries at most (beside `FETCH_ROWS`): large blobs come in more slices."""
STOP_S = 5.0
"""How long `stop` waits for the sessions' threads, their statements interrupted."""
MAX_SESSIONS = 8
"""Sessions at once; one more is told the door is busy (a CLI retries, a child fails loudly)."""
COUNTERS = (
    "sessions",
    "refused",
    "busy",
    "bad_frames",
    "sql_errors",
    "idle_closed",
    "transactions_expired",
    "errors",
)
_PEERCRED = struct.Struct("3i")


class DoorInUse(Exception):
    """A live daemon answers at this door already."""


class DoorServer:
    """Accepts on `path` until `stop`; `open_session(readonly=...)` gives each session its
    handle."""

    def __init__(self, path: Path, open_session: Callable[..., Database]) -> None:
        self.path, self._open = path, open_session
        self.counts = dict.fromkeys(COUNTERS, 0)
        self._lock = threading.Lock()
        self._sessions: dict[socket.socket, threading.Thread] = {}
        self._open_sessions: dict[socket.socket, _Session] = {}
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def listen(self) -> None:
        """Bind the socket (0660), replacing a killed daemon's; DoorInUse when a live one
        answers there (two daemons on one database: the Writer's lock then stops this one)."""
        if self.path.exists():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                self.path.unlink(missing_ok=True)  # nobody behind it: a killed daemon's
            else:
                raise DoorInUse(f"{self.path}: another daemon answers there")
            finally:
                probe.close()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        os.chmod(self.path, 0o660)  # the daemon's user, and its group for read-only sessions
        listener.listen(MAX_SESSIONS)
        listener.settimeout(0.5)
        self._listener = listener

    def start(self) -> DoorServer:
        """Serve: sessions begin (those waiting since `listen` first)."""
        if self._listener is None:
            self.listen()
        self._thread = threading.Thread(target=self._accept, name="db-door", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the door: no new session; running statements interrupted, their
        transactions rolled back, before the Writer's final commit needs the lock."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._listener is None:
            return  # never bound (another daemon's socket): not ours to remove
        self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with self._lock:
            live = dict(self._sessions)
            for session in self._open_sessions.values():
                session.interrupt()
            for sock in live:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + STOP_S
        for thread in live.values():
            thread.join(max(0.0, deadline - time.monotonic()))

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
            try:
                self._admit(sock)
            except Exception:  # no thread left, a peer gone: that peer only is lost
                self._count("errors")
                log.exception("database door: could not admit a peer")
                with self._lock:
                    self._sessions.pop(sock, None)
                sock.close()

    def _admit(self, sock: socket.socket) -> None:
        pid, uid, _gid = _PEERCRED.unpack(
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        )
        writer = uid in (0, os.geteuid())  # else the socket's group let it in: it may read
        thread = threading.Thread(
            target=self._serve, args=(sock, pid, writer), name=f"db-door-{pid}", daemon=True
        )
        with self._lock:
            full = len(self._sessions) >= MAX_SESSIONS
            if not full:
                self._sessions[sock] = thread
                self.counts["sessions"] += 1
        if full:
            self._count("busy")
            log.warning("database door: %d sessions open, pid %d turned away", MAX_SESSIONS, pid)
            _reply_and_close(sock, _error("OperationalError", "database door busy"))
            return
        thread.start()

    def _serve(self, sock: socket.socket, pid: int, writer: bool) -> None:
        session: _Session | None = None
        try:
            while not self._stopping.is_set():
                wait = IDLE_S if session is None else session.wait_allowed()
                try:
                    request = wire.read_frame(_Paced(sock, wait), wire.MAX_REQUEST)
                except TimeoutError as exc:
                    self._closed_for_time(pid, session, exc)
                    return
                except wire.WireError as exc:
                    self._count("bad_frames")
                    log.warning("database door: pid %d sent a broken frame (%s)", pid, exc)
                    _reply_and_close(sock, _error("WireError", str(exc)))
                    return
                if session is not None and session.transaction_expired():  # a busy client
                    self._closed_for_time(pid, session, TimeoutError("busy"))
                    return
                if request is None:  # the client closed
                    return
                if session is None:
                    session, reply = self._open_session(request, writer, pid)
                    if session is not None:
                        with self._lock:
                            self._open_sessions[sock] = session
                else:
                    reply = session.handle(request)
                if not reply["ok"] and reply["kind"] != "WireError":
                    self._count("sql_errors")
                elif not reply["ok"]:
                    self._count("bad_frames")
                    log.warning("database door: pid %d: %s", pid, reply["message"])
                sock.settimeout(IDLE_S)  # a client that stops reading holds its answer this long
                sock.sendall(_framed(reply))
                if session is None:
                    return
        except OSError:
            return  # the client went away mid-answer, or stop() shut the socket
        except Exception:  # a bug here must not stop the daemon (threads that die do)
            self._count("errors")
            log.exception("database door: pid %d's session failed", pid)
        finally:
            if session is not None:
                session.close()
            with self._lock:
                self._sessions.pop(sock, None)
                self._open_sessions.pop(sock, None)
            sock.close()

    def _closed_for_time(self, pid: int, session: _Session | None, exc: TimeoutError) -> None:
        if session is not None and session.transaction_expired():
            self._count("transactions_expired")
            log.warning(
                "database door: pid %d kept a transaction open %.0f s: rolled back, session closed",
                pid,
                TRANSACTION_S,
            )
        elif str(exc) == _Paced.SLOW:
            self._count("bad_frames")
            log.warning("database door: pid %d sent a request too slowly, session closed", pid)
        else:
            self._count("idle_closed")
            log.warning("database door: pid %d silent %.0f s, session closed", pid, IDLE_S)

    def _open_session(
        self, request: dict[str, Any], writer: bool, pid: int
    ) -> tuple[_Session | None, dict[str, Any]]:
        if request.get("op") != "open" or not isinstance(request.get("readonly"), bool):
            return None, _error("WireError", "a session begins with open")
        if not request["readonly"] and not writer:  # as the file's mode: the group reads only
            self._count("refused")
            log.warning("database door: pid %d may read, not write (not root nor edged's)", pid)
            return None, _error("PermissionError", "read-only for this user")
        try:
            return _Session(self._open(readonly=request["readonly"])), {"ok": True}
        except Exception as exc:  # a StoreError: the client shows its text
            return None, _error("OperationalError", str(exc))


class _Paced:
    """A socket's `recv` for one request: the first byte may take `wait` (idle, or what is
    left of the session's transaction), the rest of the request `FRAME_S`."""

    SLOW = "request not whole in time"

    def __init__(self, sock: socket.socket, wait: float) -> None:
        self.sock, self.deadline = sock, None
        sock.settimeout(max(wait, 0.001))

    def __call__(self, size: int) -> bytes:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(self.SLOW)
            self.sock.settimeout(left)
        try:
            data = self.sock.recv(size)
        except TimeoutError:
            raise TimeoutError(self.SLOW if self.deadline is not None else "idle") from None
        if self.deadline is None:
            self.deadline = time.monotonic() + FRAME_S
        return data


class _Session:
    """One client's connection and its open cursor (a query read in slices)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.cursor: sqlite3.Cursor | None = None
        self.transaction_since: float | None = None

    def wait_allowed(self) -> float:
        """How long the next request may be awaited: `IDLE_S`, or less inside a transaction."""
        if self.transaction_since is None:
            return IDLE_S
        return min(IDLE_S, self.transaction_since + TRANSACTION_S - time.monotonic())

    def transaction_expired(self) -> bool:
        since = self.transaction_since
        return since is not None and time.monotonic() - since >= TRANSACTION_S

    def interrupt(self) -> None:
        """From another thread: the running statement stops with "interrupted"."""
        with contextlib.suppress(sqlite3.Error):
            self.db.conn.interrupt()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        reply = self._handle(request)
        in_transaction = self.db.conn.in_transaction
        if not in_transaction:
            self.transaction_since = None
        elif self.transaction_since is None:
            self.transaction_since = time.monotonic()
        reply["in_transaction"] = in_transaction
        return reply

    def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
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
                return {"ok": True}
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
        rows: list[list[Any]] = []
        size, more = 0, cursor.description is not None
        while more and len(rows) < wire.FETCH_ROWS and size < REPLY_BUDGET:
            row = cursor.fetchone()
            if row is None:
                more = False
                break
            rows.append(wire.pack_row(row))
            size += sum(wire.packed_size(v) for v in rows[-1])
        reply: dict[str, Any] = {"ok": True, "rows": rows, "more": more}
        if head:
            reply["description"] = [d[0] for d in cursor.description or ()] or None
            reply["rowcount"] = cursor.rowcount
            reply["lastrowid"] = cursor.lastrowid
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


def _framed(reply: dict[str, Any]) -> bytes:
    """The reply's frame; a reply too large for one (a single huge row) becomes an error."""
    try:
        return wire.frame(reply)
    except wire.WireError as exc:
        return wire.frame(_error("WireError", f"reply too large for the door: {exc}"))


def _reply_and_close(sock: socket.socket, reply: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        sock.settimeout(1.0)
        sock.sendall(wire.frame(reply))
    sock.close()
