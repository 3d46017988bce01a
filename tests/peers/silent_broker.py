"""A TCP peer that speaks just enough MQTT 3.1.1 to look like a broker, and never sends PUBACK.

It answers CONNECT with CONNACK, SUBSCRIBE with SUBACK and PINGREQ with PINGRESP (so paho's
keepalive finds nothing wrong), takes every PUBLISH and acknowledges none: the broker that
stalls a publisher without a word. It counts connections and PUBLISH packets for the test.
"""

from __future__ import annotations

import socket
import socketserver
import threading

from tests.peers.broker import free_port

CONNECT, PUBLISH, SUBSCRIBE, PINGREQ, DISCONNECT = 1, 3, 8, 12, 14
CONNACK = bytes([0x20, 0x02, 0x00, 0x00])
PINGRESP = bytes([0xD0, 0x00])


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def read_packet(sock: socket.socket) -> tuple[int, bytes]:
    """One MQTT control packet: (type, variable header + payload)."""
    first = _read_exact(sock, 1)[0]
    length, shift = 0, 0
    while True:
        byte = _read_exact(sock, 1)[0]
        length += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first >> 4, _read_exact(sock, length)


class SilentBroker:
    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.connections = 0
        self.publishes = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._serve(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> SilentBroker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                kind, body = read_packet(sock)
                if kind == CONNECT:
                    with self._lock:
                        self.connections += 1
                    sock.sendall(CONNACK)
                elif kind == SUBSCRIBE:  # SUBACK: packet id, then QoS 1 granted per filter
                    sock.sendall(bytes([0x90, 0x03]) + body[:2] + b"\x01")
                elif kind == PINGREQ:
                    sock.sendall(PINGRESP)
                elif kind == PUBLISH:
                    with self._lock:
                        self.publishes += 1
                elif kind == DISCONNECT:
                    return
        except (ConnectionError, OSError):
            return
