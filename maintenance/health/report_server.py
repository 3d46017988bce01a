"""A tiny local HTTP endpoint where the glasses' companion app or a technician reports an item.

    POST /report   {"item": "glasses-1", "battery": 80, "charging": true}
    -> 200 {"ok": true} | 400 {"error": ...} | 401 | 404 (unknown item or path) | 413

Local and simple on purpose: no MQTT round trip through a metered uplink for something that
happens in the same room. It binds 127.0.0.1 by default; binding the LAN (for the phone) should
come with a `token`, then required as `Authorization: Bearer TOKEN`. The server keeps only the
latest report per item, stamped with the daemon's clock on receipt (the phone's clock may be
wrong). Parsing is a pure function; the server thread does nothing but validate and store.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer

log = logging.getLogger(__name__)

MAX_BODY = 4096
ITEM_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True, slots=True)
class Report:
    item: str
    received: float
    battery: float | None = None
    charging: bool | None = None


def parse_report(body: bytes, received: float) -> Report:
    """The POSTed JSON as a Report; ValueError saying what is wrong otherwise."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    item = data.get("item")
    if not isinstance(item, str) or not ITEM_RE.fullmatch(item):
        raise ValueError("item: expected [a-z0-9_-], 1-64 characters")
    battery, charging = data.get("battery"), data.get("charging")
    if battery is not None and (
        isinstance(battery, bool) or not isinstance(battery, int | float) or not 0 <= battery <= 100
    ):
        raise ValueError("battery: expected a number 0-100")
    if charging is not None and not isinstance(charging, bool):
        raise ValueError("charging: expected true or false")
    unknown = sorted(set(data) - {"item", "battery", "charging"})
    if unknown:
        raise ValueError(f"unknown keys {unknown}")
    return Report(item, received, None if battery is None else float(battery), charging)


class ReportServer:
    """Owns one listening socket and its thread; `port=0` picks a free port (see `.port`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        items: Collection[str] | None = None,
        token: str | None = None,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 0.5,
    ) -> None:
        """`poll_interval`: how often the idle thread wakes to notice `stop()` (a Pi's CPU
        prefers few wake-ups; tests pass a small one)."""
        self._items = None if items is None else frozenset(items)
        self._token = token
        self._clock = clock
        self._lock = threading.Lock()
        self._latest: dict[str, Report] = {}
        self._httpd = HTTPServer((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None
        self._poll_interval = poll_interval

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(self._poll_interval,), name="report-server"
        )
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def latest(self, item: str) -> Report | None:
        with self._lock:
            return self._latest.get(item)

    def accept(self, body: bytes, authorization: str | None) -> tuple[int, dict]:
        """Validate and store one POST body: (HTTP status, JSON answer). Called by the handler."""
        if self._token is not None and not hmac.compare_digest(
            (authorization or "").encode(), f"Bearer {self._token}".encode()
        ):
            return 401, {"error": "missing or wrong token"}
        try:
            report = parse_report(body, self._clock())
        except ValueError as exc:
            return 400, {"error": str(exc)}
        if self._items is not None and report.item not in self._items:
            return 404, {"error": f"unknown item {report.item!r}"}
        with self._lock:
            self._latest[report.item] = report
        log.debug("report from %r: %r", report.item, report)
        return 200, {"ok": True}


def _handler_for(server: ReportServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 5  # a stalled client must not hold the single server thread

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.rstrip("/") != "/report":
                return self._answer(404, {"error": "POST /report"})
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return self._answer(400, {"error": "bad Content-Length"})
            if not 0 <= length <= MAX_BODY:
                return self._answer(413, {"error": f"body over {MAX_BODY} bytes"})
            body = self.rfile.read(length)
            self._answer(*server.accept(body, self.headers.get("Authorization")))

        def _answer(self, status: int, answer: dict) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("report endpoint: " + format, *args)

    return Handler
