"""Telling systemd how the daemon is: READY, STATUS, WATCHDOG and STOPPING (sd_notify(3)).

The watchdog ping means "the daemon works", so the main loop sends it only when every part doing
the work is alive and moving: each device runner thread, the Writer (its loop went round within
one watchdog interval: it does every second, committing or not) and the publisher's sender
thread. A ping from a free-running thread would keep a daemon whose writer hangs alive for ever;
withheld, systemd restarts the service (`WatchdogSec=` in systemd/edged.service). A store that
fails (disk full) is not a hang: the writer goes round, keeps its batch and retries, the storage
alarm says so, and a restart would only lose what it holds in memory.

The protocol is one datagram of "KEY=value" lines to the unix socket named by $NOTIFY_SOCKET (a
name starting with "@" is in the abstract namespace). Without $NOTIFY_SOCKET (a terminal, most
tests) nothing is sent. A socket that refuses datagrams never stops the daemon: the failures are
counted and logged once per run of failures.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

GRACE_WITHOUT_WATCHDOG = 60.0
"""Seconds the writer may be stuck before STATUS says so, when systemd asks for no watchdog."""


def watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Seconds systemd waits for a ping ($WATCHDOG_USEC), None when no watchdog is asked of
    this process ($WATCHDOG_PID names another one) or the values are not numbers."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec or (pid and pid != str(os.getpid())):
        return None  # none asked, or it is another process's (we inherited its environment)
    if not usec.isdigit() or int(usec) == 0:
        log.warning("ignoring WATCHDOG_USEC=%r: not a positive number of microseconds", usec)
        return None
    return int(usec) / 1e6


class Notifier:
    """Sends sd_notify datagrams; every method is a no-op without $NOTIFY_SOCKET."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        name = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + name[1:] if name.startswith("@") else name
        self.watchdog_s = watchdog_interval(env) if self.address else None
        self.sent = 0
        self.failures = 0
        self._failing = False
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *lines: str) -> bool:
        """Send `lines` ("READY=1", "STATUS=...") as one datagram; False if it was not sent."""
        if not self.address:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(lines).encode("utf-8", "replace"), self.address)
        except OSError as exc:
            self.failures += 1
            if not self._failing:
                log.warning("cannot notify systemd at %r: %s", self.address, exc)
            self._failing = True
            return False
        if self._failing:
            log.info("notifying systemd again (%d datagrams lost)", self.failures)
        self._failing = False
        self.sent += 1
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


@dataclass(frozen=True)
class Vitals:
    """What the main loop sees of the threads doing the work, once per loop."""

    devices: int
    devices_running: int
    writer_running: bool
    writer_idle_s: float
    """Seconds since the Writer's loop last went round (`Writer.heartbeat`)."""
    writer_allowed_s: float
    """How long it may stay stuck: one watchdog interval."""
    sender_running: bool | None
    """The MQTT sender thread; None when there is none to watch (MQTT disabled or not set up)."""
    mqtt_connected: bool = False


def verdict(v: Vitals) -> tuple[bool, str]:
    """(healthy, short STATUS text). Unhealthy means the watchdog is not fed."""
    problems = []
    if v.devices_running < v.devices:
        problems.append(f"{v.devices - v.devices_running} device runner(s) dead")
    if not v.writer_running:
        problems.append("writer thread dead")
    elif v.writer_idle_s > v.writer_allowed_s:
        problems.append(f"writer stuck for {v.writer_idle_s:.0f} s")
    if v.sender_running is False:
        problems.append("MQTT sender thread dead")
    if problems:
        return False, "FAILING: " + "; ".join(problems)
    link = {None: "MQTT off", True: "MQTT connected", False: "MQTT waiting"}[
        None if v.sender_running is None else v.mqtt_connected
    ]
    return True, f"running: {v.devices} device runner(s), writer running, {link}"


class Watchdog:
    """The main loop's side of the protocol: `ready()` once, `tick(vitals)` every loop."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.status = ""
        self.healthy = True
        if notifier.watchdog_s is not None:
            # Withheld pings end in SIGABRT: the journal then shows where every thread was.
            faulthandler.enable()

    @property
    def grace(self) -> float:
        """How long the writer may be stuck: one watchdog interval (a slow SD card, a prune)."""
        return self.notifier.watchdog_s or GRACE_WITHOUT_WATCHDOG

    def ready(self, status: str) -> None:
        self.status = status
        self.notifier.send("READY=1", f"STATUS={status}")

    def tick(self, vitals: Vitals) -> None:
        healthy, status = verdict(vitals)
        if healthy != self.healthy:
            if healthy:
                log.info("watchdog: healthy again (%s), pinging systemd again", status)
            else:
                log.error("watchdog: %s; not pinging systemd (it restarts edged)", status)
            self.healthy = healthy
        # The seconds in a failing status change every loop: resend only when the words do.
        if _words(status) != _words(self.status):
            self.status = status
            self.notifier.send(f"STATUS={status}")
        if healthy and self.notifier.watchdog_s is not None:
            self.notifier.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.notifier.send("STOPPING=1", "STATUS=stopping")
        self.notifier.close()


def _words(status: str) -> str:
    return "".join(c for c in status if not c.isdigit())
