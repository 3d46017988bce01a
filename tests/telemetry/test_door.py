"""The database door: another process's statements, run by the process that holds the file.

A real server on a real Unix socket, sessions on the held database (SQLite's unix-excl VFS);
clients are the door's own client, raw sockets speaking nonsense, and other processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from telemetry import door, door_client, exclusive
from telemetry import door_wire as wire
from telemetry.door_client import DoorConnection
from telemetry.store import open_db
from tests.peers.replay import wait_until


@contextlib.contextmanager
def _holding(path: Path) -> Iterator[tuple[Path, door.DoorServer]]:
    """A database held by this process, its door open; what a daemon sets up."""
    holding = exclusive.Holding(path, partial(open_db, path, migrate_schema=False))
    server = holding.door
    assert server is not None
    writer = open_db(path)  # the Writer's connection: the first, exclusive from here on
    writer.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v)")
    server.start()
    try:
        yield path, server
    finally:
        server.stop()
        writer.close()
        exclusive.release(path)


@pytest.fixture
def held(tmp_path) -> Iterator[tuple[Path, door.DoorServer]]:
    with _holding(tmp_path / "edged.db") as it:
        yield it


def _client(path: Path, readonly: bool = False) -> DoorConnection:
    conn = door_client.connect(exclusive.door_path(path), readonly=readonly)
    assert conn is not None
    return conn


def test_values_parameters_and_long_results_cross_the_door_exactly(held):
    path, _ = held
    conn = _client(path)
    values = [None, 0, -(2**63), 2**63 - 1, 1.5, float("inf"), "", "é ß 🔋", b"", bytes(range(256))]
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(v,) for v in values])
    rows = conn.execute("SELECT v FROM t ORDER BY k").fetchall()
    assert [r[0] for r in rows] == values
    named = conn.execute("SELECT :a || :b AS ab", {"a": "x", "b": "y"})
    assert named.description[0][0] == "ab" and named.fetchone() == ("xy",)

    many = wire.FETCH_ROWS * 2 + 7
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(i,) for i in range(many)])
    first = conn.execute("SELECT v FROM t WHERE typeof(v) = 'integer' ORDER BY k")
    head = [first.fetchone() for _ in range(3)]
    # A second statement while the first still has rows in the daemon: both read in full.
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (len(values) + many,)
    assert len(head) + len(first.fetchall()) == many + 3  # the three integer values above
    assert [v for (v,) in conn.execute("SELECT v FROM t WHERE k > 10 ORDER BY k")] == list(
        range(many)
    )
    conn.close()


def test_transactions_errors_and_the_store_functions_behave_as_on_a_file(held):
    path, _ = held
    conn = _client(path)
    assert conn.execute("SELECT metrics_json(NULL)").fetchone() == (None,)  # the store's function
    conn.execute("BEGIN IMMEDIATE")
    assert conn.in_transaction
    cursor = conn.execute("INSERT INTO t (k, v) VALUES (1, 'a')")
    assert cursor.rowcount == 1 and cursor.lastrowid == 1
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO t (k, v) VALUES (1, 'b')")
    conn.rollback()
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        conn.execute("SELECT * FROM nowhere")
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT ?", (1, 2))
    conn.executescript("INSERT INTO t (v) VALUES ('s1'); INSERT INTO t (v) VALUES ('s2');")
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)
    conn.close()
    reader = _client(path, readonly=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("INSERT INTO t (v) VALUES (1)")
    reader.close()


def test_open_db_in_another_process_goes_through_the_door_and_the_file_stays_locked(held):
    path, server = held
    code = textwrap.dedent(
        """
        import sqlite3, sys
        from telemetry.store import open_db
        db = open_db(sys.argv[1])
        db.execute("INSERT INTO t (v) VALUES ('from a child')")
        print(type(db.conn).__name__)
        try:
            sqlite3.connect(sys.argv[1], timeout=0.2).execute("SELECT 1 FROM t").fetchall()
        except sqlite3.OperationalError as exc:
            print(exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["DoorConnection", "database is locked"]
    assert not Path(f"{path}-shm").exists()  # the WAL index is in the holder's heap
    mine = open_db(path, readonly=True)  # in-process: the file itself, shared
    assert mine.execute("SELECT v FROM t").fetchall() == [("from a child",)]
    mine.close()
    assert server.counts["sessions"] == 1


def test_without_a_daemon_a_left_socket_is_ignored_and_the_file_opened(tmp_path):
    path = tmp_path / "edged.db"
    open_db(path).close()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(exclusive.door_path(path)))  # bound, never listening: a killed daemon's
    stale.close()
    db = open_db(path, readonly=True)
    assert isinstance(db.conn, sqlite3.Connection)
    db.close()


def _raw(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(str(exclusive.door_path(path)))
    return sock


def _reply(sock: socket.socket) -> dict | None:
    return wire.read_frame(sock.recv)


BROKEN = {
    "four gigabytes announced": struct.pack(">I", 2**32 - 1),
    "not JSON": struct.pack(">I", 5) + b"\xff\xfe{{[",
    "a list": struct.pack(">I", 2) + b"[]",
    "no open first": wire.frame({"op": "execute", "sql": "SELECT 1"}),
    "open without readonly": wire.frame({"op": "open"}),
    "nested past the parser's depth": struct.pack(">I", 200_000) + b"[" * 100_000 + b"]" * 100_000,
    "past the request limit": struct.pack(">I", wire.MAX_REQUEST + 1),
}


@pytest.mark.parametrize("frame", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_frame_is_answered_counted_and_the_door_serves_on(held, frame):
    path, server = held
    sock = _raw(path)
    sock.sendall(frame)
    reply = _reply(sock)
    assert reply is not None and reply["ok"] is False and reply["kind"] == "WireError"
    assert _reply(sock) is None  # and the session is closed
    sock.close()
    wait_until(lambda: server.counts["bad_frames"] == 1, 10, what="the broken frame counted")
    good = _client(path)
    assert good.execute("SELECT 1").fetchone() == (1,)
    good.close()


BAD_REQUESTS = [
    {"op": "drop everything"},
    {"op": "execute", "sql": 42},
    {"op": "execute", "sql": "SELECT ?", "params": [{"b": "not base64!"}]},
    {"op": "execute", "sql": "SELECT ?", "params": [[1, 2]]},
    {"op": "execute", "sql": "SELECT ?", "params": {"x": 1}},
    {"op": "executemany", "sql": "SELECT 1", "params": 7},
]


@pytest.mark.parametrize("request_", BAD_REQUESTS, ids=lambda r: json.dumps(r)[:40])
def test_a_bad_request_inside_a_session_is_refused_and_the_session_goes_on(held, request_):
    path, server = held
    sock = _raw(path)
    sock.sendall(wire.frame({"op": "open", "readonly": True}))
    assert _reply(sock) == {"ok": True}
    sock.sendall(wire.frame(request_))
    reply = _reply(sock)
    assert reply is not None and reply["ok"] is False and reply["kind"] == "WireError"
    sock.sendall(wire.frame({"op": "execute", "sql": "SELECT 2"}))
    reply = _reply(sock)
    assert reply is not None and reply["rows"] == [[2]]
    sock.close()
    assert server.counts["bad_frames"] == 1


def test_a_silent_session_is_closed_and_its_transaction_rolled_back(held, monkeypatch):
    path, server = held
    monkeypatch.setattr(door, "IDLE_S", 1.0)
    stuck = _client(path)
    stuck.execute("BEGIN IMMEDIATE")  # then nothing: a hung CLI holding the write lock
    wait_until(lambda: server.counts["idle_closed"] == 1, 30, what="the idle close")
    writer = open_db(path)
    writer.execute("INSERT INTO t (v) VALUES ('the writer again')")  # the lock was released
    writer.close()
    with pytest.raises(sqlite3.OperationalError, match="database door"):
        stuck.execute("SELECT 1")  # the session is gone: closed, or a broken pipe


def test_sessions_past_the_limit_are_turned_away_until_one_ends(held):
    path, server = held
    sessions = [_client(path) for _ in range(door.MAX_SESSIONS)]
    with pytest.raises(sqlite3.OperationalError, match="busy"):
        _client(path)
    assert server.counts["busy"] == 1
    sessions.pop().close()
    wait_until(lambda: _try_open(path), 10, what="a free session")
    for s in sessions:
        s.close()


def _try_open(path: Path) -> bool:
    try:
        _client(path).close()
    except sqlite3.OperationalError:
        return False
    return True


OUTSIDER = textwrap.dedent(
    """
    import json, socket, struct, sys
    def ask(s, message):
        body = json.dumps(message).encode()
        s.sendall(struct.pack(">I", len(body)) + body)
        size = struct.unpack(">I", s.recv(4))[0]
        return json.loads(s.recv(size))
    for readonly in (False, True):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        reply = ask(s, {"op": "open", "readonly": readonly})
        if reply["ok"]:
            reply = ask(s, {"op": "execute", "sql": "SELECT count(*) FROM t"})
        print(json.dumps(reply))
        s.close()
    """
)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_another_user_the_socket_lets_in_may_read_but_not_write():
    """The socket's mode is the file's (the group reads); the peer's uid decides writing."""
    open_dir = Path(tempfile.mkdtemp(prefix="edged-door-"))  # /tmp: any user may look in
    try:
        open_dir.chmod(0o755)
        with _holding(open_dir / "edged.db") as (path, server):
            sock = exclusive.door_path(path)
            assert sock.stat().st_mode & 0o777 == 0o660  # the kernel's wall: user and group
            sock.chmod(0o666)  # let "nobody" in, as a member of the group would be
            out = subprocess.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
                + ["/usr/bin/python3", "-c", OUTSIDER, str(sock)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.returncode == 0, out.stderr
            write, read = (json.loads(line) for line in out.stdout.splitlines())
            assert write == {
                "ok": False,
                "kind": "PermissionError",
                "message": "read-only for this user",
            }
            assert read["ok"] and read["rows"] == [[0]]
            assert server.counts["refused"] == 1
    finally:
        shutil.rmtree(open_dir)


def test_the_client_survives_a_daemon_that_stops_mid_session(held):
    path, server = held
    conn = _client(path)
    assert conn.execute("SELECT 1").fetchone() == (1,)
    server.stop()
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="door"):
        conn.execute("SELECT 1")
    assert time.monotonic() - started < door_client.REPLY_TIMEOUT_S


def test_a_reply_too_large_for_a_frame_is_an_error_and_the_session_goes_on(held):
    path, server = held
    conn = _client(path)
    with pytest.raises(sqlite3.InterfaceError, match="too large"):
        conn.execute("SELECT zeroblob(7000000)")  # 9.3 MB of base64: past MAX_FRAME
    # Many large rows come in slices of REPLY_BUDGET, whole.
    five = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5)"
    rows = conn.execute(f"{five} SELECT zeroblob(300000) FROM n").fetchall()
    assert [len(r[0]) for r in rows] == [300000] * 5
    texts = conn.execute(f"{five} SELECT printf('%.*c', 2000000, 'x') FROM n").fetchall()
    assert [len(r[0]) for r in texts] == [2000000] * 5  # long text, sliced by size too
    assert conn.execute("SELECT 3").fetchone() == (3,)
    assert server.counts["errors"] == 0
    conn.close()


def test_a_request_trickled_byte_by_byte_loses_its_session(held, monkeypatch):
    path, server = held
    monkeypatch.setattr(door, "FRAME_S", 1.0)
    sock = _raw(path)
    frame = wire.frame({"op": "open", "readonly": True})
    for byte in frame[:-1]:  # never the last one, a byte every 0.2 s: slowloris
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break
        time.sleep(0.2)
    wait_until(lambda: server.counts["bad_frames"] == 1, 30, what="the slow request dropped")
    sock.close()


def test_a_transaction_kept_busy_is_rolled_back_at_its_limit(held, monkeypatch):
    path, server = held
    monkeypatch.setattr(door, "TRANSACTION_S", 1.0)
    busy = _client(path)
    busy.execute("BEGIN IMMEDIATE")
    busy.execute("INSERT INTO t (v) VALUES ('never committed')")
    with pytest.raises(sqlite3.OperationalError, match="database door"):
        for _ in range(200):  # a request every 0.05 s: never idle, always in its transaction
            busy.execute("SELECT 1")
            time.sleep(0.05)
    assert server.counts["transactions_expired"] == 1
    writer = open_db(path)
    writer.execute("INSERT INTO t (v) VALUES ('the writer')")
    assert writer.execute("SELECT v FROM t").fetchall() == [("the writer",)]
    writer.close()


def test_stop_interrupts_a_running_statement_and_releases_the_lock(tmp_path):
    path = tmp_path / "edged.db"
    with _holding(path) as (_, server):
        long = _client(path)
        long.execute("BEGIN IMMEDIATE")
        forever = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
        )
        failed: list[BaseException] = []

        def run() -> None:
            try:
                long.execute(forever)
            except sqlite3.Error as exc:
                failed.append(exc)

        runner = threading.Thread(target=run)
        runner.start()
        time.sleep(0.5)  # the statement runs in the daemon
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < door.STOP_S + 1
        runner.join(30)
        assert failed and not runner.is_alive()
        writer = open_db(path)  # the session's transaction was rolled back: the lock is free
        writer.execute("INSERT INTO t (v) VALUES ('final commit')")
        writer.close()


def test_executemany_goes_in_chunks_and_bad_values_are_programming_errors(held):
    path, _ = held
    conn = _client(path)
    n = wire.MANY_CHUNK * 3 + 11
    assert conn.executemany("INSERT INTO t (v) VALUES (?)", ((i,) for i in range(n))).rowcount == n
    assert conn.execute("SELECT count(*), sum(v) FROM t").fetchone() == (n, n * (n - 1) // 2)
    from decimal import Decimal

    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT ?", (Decimal("1.5"),))
    assert conn.execute("SELECT 1").fetchone() == (1,)  # nothing was sent: the session is fine
    conn.close()
