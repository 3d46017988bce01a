"""Service checks: is OpenClinic answering, is MariaDB listening, is a unit running, is the other
PiBox reachable. Each probe makes one attempt with a timeout and returns a `CheckResult`; it never
raises, retries or sleeps. `CheckMonitor` is the stateful part: it remembers the last success and
counts consecutive failures per check, logs each change of state once, and yields the
`HealthReading` for `P/health/{name}`.

Kinds (`CheckSpec.kind`):
- `http`: GET `url` (redirects followed), `ok` when the final status is `expect_status` and, if set,
  `expect_text` occurs in the first 64 KiB of the body. Latency is the time to the response headers.
- `tcp`: a TCP connect to `host:port` (e.g. MariaDB on 3306) succeeds.
- `host`: ICMP-free reachability of a remote machine: a TCP connect to `host:port` that succeeds
  *or is refused* (a refusal is an answer from a live host); only a timeout or a network error
  counts as unreachable.
- `systemd`: `systemctl is-active UNIT` says active (or reloading). Without systemctl, or when
  systemd does not answer (a container), the status is `unknown`, not `failed`.

| value | unit | meaning |
|---|---|---|
| status | text | `ok`, `failed` or `unknown` |
| latency_ms | ms | connect time, time to the response headers, or systemctl's run time |
| consecutive_failures | count | failures since the last success (unknown neither adds nor resets) |
| last_success | unix s | wall-clock time of the last ok; None since start if never |
| since_success_s | s | now - last_success; None if never |
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from edged.config.health import CheckConfig
from maintenance.health.reading import HealthReading, ms

log = logging.getLogger(__name__)

BODY_LIMIT = 64 * 1024
SYSTEMD_OK = frozenset({"active", "reloading", "refreshing"})
SYSTEMD_KNOWN = SYSTEMD_OK | {"inactive", "failed", "activating", "deactivating", "maintenance"}
_OPENER = None
"""urllib's opener without proxies (a check measures the direct path, whatever http_proxy the
shell exported), built at the first HTTP check: urllib and http.client are imported only by a
configuration that has one (~0.7 MB of the daemon's RSS, bench/bench_imports.py)."""


class Status(Enum):
    OK = "ok"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Kind(Enum):
    HTTP = "http"
    TCP = "tcp"
    HOST = "host"
    SYSTEMD = "systemd"


@dataclass(frozen=True, slots=True)
class CheckResult:
    status: Status
    latency_s: float | None
    detail: str = ""


CheckSpec = CheckConfig
"""One configured check (`[[health.checks]]`); `kind` is a `Kind` or its string value."""


def _elapsed(start: float) -> float:
    return time.monotonic() - start


def check_http(
    url: str, expect_status: int = 200, timeout: float = 5.0, expect_text: str | None = None
) -> CheckResult:
    global _OPENER
    import http.client
    import urllib.error
    import urllib.request

    if _OPENER is None:
        _OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    start = time.monotonic()
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            latency, status = _elapsed(start), response.status
            body = response.read(BODY_LIMIT) if expect_text is not None else b""
    except urllib.error.HTTPError as exc:  # 4xx/5xx: the server answered
        latency, status, body = _elapsed(start), exc.code, b""
        exc.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError is an OSError
        reason = getattr(exc, "reason", exc)
        return CheckResult(Status.FAILED, None, f"GET {url!r}: {reason}")
    if status != expect_status:
        return CheckResult(Status.FAILED, latency, f"HTTP {status}, expected {expect_status}")
    if expect_text is not None and expect_text.encode() not in body:
        return CheckResult(Status.FAILED, latency, f"{expect_text!r} not in the page")
    return CheckResult(Status.OK, latency, f"HTTP {status}")


def check_tcp(
    host: str, port: int, timeout: float = 5.0, refused_is_up: bool = False
) -> CheckResult:
    """One connect. `refused_is_up` makes a refusal count as reachable (the `host` kind)."""
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return CheckResult(Status.OK, _elapsed(start), "connected")
    except ConnectionRefusedError:
        if refused_is_up:
            return CheckResult(Status.OK, _elapsed(start), "refused: host up")
        return CheckResult(Status.FAILED, _elapsed(start), f"{host}:{port} refused")
    except TimeoutError:
        return CheckResult(Status.FAILED, None, f"{host}:{port} timed out after {timeout:g} s")
    except OSError as exc:  # no route, DNS failure, network down
        return CheckResult(Status.FAILED, None, f"{host}:{port}: {exc.strerror or exc}")


def parse_is_active(stdout: str, stderr: str) -> tuple[Status, str]:
    """What `systemctl is-active` printed, as a status (pure: the exit code adds nothing)."""
    state = stdout.strip().splitlines()[0].strip() if stdout.strip() else ""
    if state in SYSTEMD_OK:
        return Status.OK, state
    if state in SYSTEMD_KNOWN:
        return Status.FAILED, state
    reason = stderr.strip().splitlines()[0] if stderr.strip() else "no answer"
    return Status.UNKNOWN, state or reason


def check_systemd(unit: str, timeout: float = 5.0, systemctl: str = "systemctl") -> CheckResult:
    binary = shutil.which(systemctl)
    if binary is None:
        return CheckResult(Status.UNKNOWN, None, f"{systemctl!r} not found")
    start = time.monotonic()
    try:
        done = subprocess.run(
            [binary, "is-active", "--", unit],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError) as exc:
        return CheckResult(Status.UNKNOWN, None, f"systemctl: {exc}")
    status, detail = parse_is_active(done.stdout, done.stderr)
    return CheckResult(status, _elapsed(start), f"{unit}: {detail}")


def run_check(spec: CheckSpec) -> CheckResult:
    kind = Kind(spec.kind)
    if kind is Kind.HTTP:
        return check_http(spec.url, spec.expect_status, spec.timeout, spec.expect_text)
    if kind is Kind.SYSTEMD:
        return check_systemd(spec.unit, spec.timeout)
    return check_tcp(spec.host, spec.port, spec.timeout, refused_is_up=kind is Kind.HOST)


class CheckMonitor:
    """The memory of one check across rounds: last success, consecutive failures, transitions."""

    def __init__(self, spec: CheckSpec, probe: Callable[[CheckSpec], CheckResult] = run_check):
        self.spec = spec
        self._probe = probe
        self.last_success: float | None = None
        self.consecutive_failures = 0
        self.last_status: Status | None = None

    def run(self, now: float | None = None) -> HealthReading:
        """Probe once (blocking up to the spec's timeout) and record the result."""
        result = self._probe(self.spec)
        return self.record(result, time.time() if now is None else now)

    def record(self, result: CheckResult, now: float) -> HealthReading:
        if result.status is Status.OK:
            self.last_success, self.consecutive_failures = now, 0
        elif result.status is Status.FAILED:
            self.consecutive_failures += 1
        self._log_transition(result)
        since = None if self.last_success is None else max(0.0, now - self.last_success)
        values = {
            "status": result.status.value,
            "latency_ms": ms(result.latency_s),
            "consecutive_failures": self.consecutive_failures,
            "last_success": self.last_success,
            "since_success_s": since,
        }
        return HealthReading(self.spec.name, values, result.status is Status.OK, result.detail)

    def _log_transition(self, result: CheckResult) -> None:
        previous, self.last_status = self.last_status, result.status
        if previous is result.status:
            return
        if result.status is Status.OK:
            if previous is not None:
                log.info("check %s recovered: %s", self.spec.name, result.detail)
        else:
            log.warning("check %s %s: %s", self.spec.name, result.status.value, result.detail)
