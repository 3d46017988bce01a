"""Real peers for the health collectors' tests and bench: an HTTP server and a TCP listener on
loopback that can go down and come back on the same port, and a fake sysfs/procfs tree writer.

Also tests the peers themselves, so a broken peer cannot make a collector test pass.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from tests.peers.broker import free_port


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write `{relative path: text}` under root (a fake /sys or /proc); returns root."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll until predicate() is true or the deadline passes (no fixed sleeps in tests)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class HttpPeer:
    """A page at every path; `status`, `body` and `redirect_to` may be changed between requests."""

    def __init__(self, status: int = 200, body: bytes = b"<title>OpenClinic</title>") -> None:
        self.port = free_port()
        self.status, self.body = status, body
        self.redirect_to: str | None = None
        self.requests = 0
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/openclinic/login.jsp"

    def start(self) -> None:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                peer.requests += 1
                if peer.redirect_to and self.path != peer.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", peer.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(peer.status)
                self.send_header("Content-Length", str(len(peer.body)))
                self.end_headers()
                self.wfile.write(peer.body)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = HTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,))
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None and self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._httpd.server_close()
            self._httpd = self._thread = None


class TcpPeer:
    """A listener that accepts and closes (like MariaDB seen by a port check); `stop()` makes the
    port refuse, `start()` listens again on the same port. With `answer=False` it accepts and
    says nothing, so an HTTP client waits for its timeout."""

    def __init__(self, answer: bool = True) -> None:
        self.port = free_port()
        self.accepted = 0
        self._hold = not answer
        self._held: list[socket.socket] = []
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(16)
        sock.settimeout(0.05)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, args=(sock,))
        self._thread.start()

    def _accept(self, sock: socket.socket) -> None:
        while self._sock is sock:
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            if self._hold:
                self._held.append(conn)
            else:
                conn.close()

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if sock is not None:
            sock.close()
        for conn in self._held:
            conn.close()
        self._held.clear()


def test_peers_go_down_and_come_back_on_the_same_port():
    tcp, http = TcpPeer(), HttpPeer()
    for _ in range(2):
        tcp.start()
        http.start()
        with socket.create_connection(("127.0.0.1", tcp.port), timeout=2):
            pass
        with socket.create_connection(("127.0.0.1", http.port), timeout=2):
            pass
        tcp.stop()
        http.stop()
        for port in (tcp.port, http.port):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            except ConnectionRefusedError:
                continue
            raise AssertionError(f"port {port} still accepts after stop()")
