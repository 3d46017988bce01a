"""The client side of the database door: an sqlite3-like connection whose statements the daemon
runs (`telemetry.door`).

It offers what the store's callers use of `sqlite3.Connection` and `sqlite3.Cursor` (execute,
executemany, executescript, fetchone/fetchmany/fetchall, iteration, description, rowcount,
lastrowid, in_transaction) and raises the same sqlite3 exception classes, so `open_db` can hand
it to any caller. A cursor reads its rows in slices; a new statement first drains the previous
cursor, as two live sqlite3 cursors on one connection would both still read.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from telemetry import door_wire as wire

REPLY_TIMEOUT_S = 120.0
"""How long a statement may take in the daemon (a month's report query on a slow card)."""


def connect(door: Path, *, readonly: bool) -> DoorConnection | None:
    """A session through the door at `door`, or None when no daemon answers there (no socket,
    or one a killed daemon left): the caller then opens the file itself."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(REPLY_TIMEOUT_S)
    try:
        sock.connect(str(door))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    except OSError as exc:
        sock.close()
        raise sqlite3.OperationalError(f"database door {str(door)!r}: {exc}") from None
    conn = DoorConnection(sock, door)
    try:
        conn.request({"op": "open", "readonly": readonly})
    except BaseException:
        conn.close()
        raise
    return conn


class DoorConnection:
    """A session of the daemon's: every call is one request and its reply."""

    def __init__(self, sock: socket.socket, door: Path) -> None:
        self._sock: socket.socket | None = sock
        self._door = door
        self._cursor: DoorCursor | None = None
        self.in_transaction = False

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        if self._sock is None:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        try:
            data = wire.frame(message)
        except wire.WireError as exc:  # a request the daemon would refuse unread
            raise sqlite3.InterfaceError(f"database door: {exc}") from None
        try:
            # Turned away (busy, refused) before it read us: its answer still waits to be read.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._sock.sendall(data)
            reply = wire.read_frame(self._sock.recv)
        except (OSError, wire.WireError) as exc:
            self.close()
            raise sqlite3.OperationalError(f"database door {str(self._door)!r}: {exc}") from None
        if reply is None:
            self.close()
            raise sqlite3.OperationalError(f"database door {str(self._door)!r}: closed")
        if "in_transaction" in reply:  # errors carry it too: a failed COMMIT may leave it open
            self.in_transaction = bool(reply["in_transaction"])
        if not reply.get("ok"):
            raise _exception(reply)
        return reply

    def execute(self, sql: str, parameters: Any = ()) -> DoorCursor:
        self._drain()
        reply = self.request({"op": "execute", "sql": sql, "params": _packed(parameters)})
        self._cursor = DoorCursor(self, reply)
        return self._cursor

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> DoorCursor:
        """In requests of `MANY_CHUNK` parameter sets (each request stays small); rowcount is
        their sum, as sqlite3 gives it."""
        self._drain()
        total, chunk, reply = 0, [], None
        for parameters in seq_of_parameters:
            chunk.append(_packed(parameters))
            if len(chunk) == wire.MANY_CHUNK:
                reply = self.request({"op": "executemany", "sql": sql, "params": chunk})
                total, chunk = total + max(reply.get("rowcount", 0), 0), []
        if chunk or reply is None:
            reply = self.request({"op": "executemany", "sql": sql, "params": chunk})
            total += max(reply.get("rowcount", 0), 0)
        self._cursor = DoorCursor(self, {**reply, "rowcount": total})
        return self._cursor

    def executescript(self, sql: str) -> None:
        self._drain()
        self._cursor = None
        self.request({"op": "script", "sql": sql})

    def create_function(self, *_args: Any, **_kwargs: Any) -> None:
        """The daemon's session connection has the store's SQL functions already."""

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
        self.in_transaction = False  # the daemon rolls back what was open

    def _drain(self) -> None:
        if self._cursor is not None:
            self._cursor.read_all()
            self._cursor = None


class DoorCursor:
    """One statement's result, read from the daemon `FETCH_ROWS` rows at a time."""

    arraysize = 1

    def __init__(self, conn: DoorConnection, head: dict[str, Any]) -> None:
        self._conn = conn
        names = head.get("description")
        self.description = tuple((n, None, None, None, None, None, None) for n in names or ())
        if not names:
            self.description = None  # type: ignore[assignment]
        self.rowcount: int = head.get("rowcount", -1)
        self.lastrowid: int | None = head.get("lastrowid")
        self._rows = deque(wire.unpack_row(r) for r in head.get("rows", []))
        self._more = bool(head.get("more"))

    def read_all(self) -> None:
        """Fetch what is left in the daemon now: the session's statement is about to change."""
        while self._more:
            self._next_slice()

    def _next_slice(self) -> None:
        reply = self._conn.request({"op": "fetch"})
        self._rows.extend(wire.unpack_row(r) for r in reply.get("rows", []))
        self._more = bool(reply.get("more"))

    def fetchone(self) -> tuple[Any, ...] | None:
        if not self._rows and self._more:
            self._next_slice()
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        size = self.arraysize if size is None else size
        while len(self._rows) < size and self._more:
            self._next_slice()
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    def fetchall(self) -> list[tuple[Any, ...]]:
        self.read_all()
        taken, self._rows = list(self._rows), deque()
        return taken

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        self._rows, self._more = deque(), False


def _packed(parameters: Any) -> Any:
    try:
        return wire.pack_params(parameters)
    except wire.WireError as exc:  # as sqlite3 says of a value it cannot bind
        raise sqlite3.ProgrammingError(str(exc)) from None


def _exception(reply: dict[str, Any]) -> sqlite3.Error:
    """The sqlite3 exception the daemon's statement raised (an unknown kind: OperationalError)."""
    kind, message = str(reply.get("kind")), str(reply.get("message"))
    if kind == "WireError":
        return sqlite3.InterfaceError(f"database door: {message}")
    if kind == "PermissionError":
        return sqlite3.OperationalError(f"database door: refused ({message})")
    cls = getattr(sqlite3, kind, None)
    if isinstance(cls, type) and issubclass(cls, sqlite3.Error):
        return cls(message)
    return sqlite3.OperationalError(message)
