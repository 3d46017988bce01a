"""Remote commands: `P/cmd/{name}` from technicians, answered on `P/cmd/{name}/result`.

Opening a way in is opening a way to be attacked, so a command passes, in order: its form and size,
a known name, its signature (when `[remote] key` is set), this site's `allow` list, its expiry (a
command queued through a three-day outage is refused, never run late), a synchronised clock, and
the `commands` table (an id seen before is never run twice, across restarts: the id is committed
before the command runs). Each refusal is answered (`ok: false` with the reason in French and
English), counted (`edged status --json`: `remote`) and logged, at most a few lines per ten minutes
(telemetry.event_log), then one line sums up the rest: a flood of garbage must not fill the SD
card's journal.

The expiry is read on the Pi's clock, and a Pi has no real-time clock: after three days without
sun it boots at the time it stopped (fake-hwclock), so a command queued through the outage looks
fresh until NTP syncs. Until then only the harmless commands (`telemetry.commands.HARMLESS`:
they read, and reading late does no harm) run; the others are refused `clock_unsynced`, their id
not remembered, so the same command sent again once the clock is synchronised runs.

Threads: paho's network thread only queues what arrives (`receive`, bounded: beyond
`QUEUE_MAX` waiting, messages are dropped and counted); one thread here checks and runs them in
order; `report_regenerate` (minutes) runs apart, one at a time. Nothing a message holds can
end the thread: an unexpected error is logged with its trace, counted and answered `failed`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from edged.config.settings import Config
from edged.services import remote_commands as handlers
from edged.services.remote_commands import CommandError, Site
from telemetry import commands, queries
from telemetry.commands import Command, Refusal
from telemetry.event_log import EventLog

log = logging.getLogger(__name__)

QUEUE_MAX = 100
TICK_EVERY = 30.0
"""Seconds: while no command comes, the event logs still end their windows (the line summing
up the refusals a flood muted is written then, not at the next refusal, days later)."""
ERRORS_KEPT = 20
"""Recent warnings and errors of the whole daemon, for `support_summary`."""
NAME_OK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
INVALID_NAME = "_invalid"
"""The result topic's level for a command whose name cannot be echoed (too long, odd characters)."""


class RemoteService:
    def __init__(self, config: Config, clock_trusted: Callable[[], bool] = lambda: True) -> None:
        """`clock_trusted()`: whether the wall clock is synchronised (edged.clock), asked from
        this service's thread. Without it an expiry means nothing (module docstring)."""
        self._config = config
        self._clock_trusted = clock_trusted
        self._root = config.topic_root
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=QUEUE_MAX)
        self._site: Site | None = None
        self._thread: threading.Thread | None = None
        self._report = threading.Lock()
        self._refusals = EventLog(log, "remote commands refused")
        self._failures = EventLog(log, "remote commands failing")
        self._lock = threading.Lock()
        self._stats: dict[str, Any] = {
            "received": 0,
            "ok": 0,
            "failed": 0,
            "refused": 0,
            "dropped": 0,
        }
        self._errors: dict[str, int] = {}
        self.recent = RecentErrors()

    def bind(self, site: Site) -> None:
        """The daemon's parts, once they exist (the publisher needs `receive` first)."""
        self._site = site

    @property
    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {**self._stats, "errors": dict(self._errors)}

    def receive(self, topic: str, payload: bytes) -> None:
        """paho's network thread: queue the message, or drop it (counted) when full."""
        try:
            self._queue.put_nowait((topic, payload))
        except queue.Full:
            self._count("dropped")
            self._refusals.log(logging.WARNING, "remote commands: queue full, one dropped")

    def start(self) -> None:
        logging.getLogger().addHandler(self.recent)
        self._thread = threading.Thread(target=self._run, name="edged-remote", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            with contextlib.suppress(queue.Full):  # a daemon thread: it ends with the process
                self._queue.put(None, timeout=1.0)
            self._thread.join(5.0)
            self._thread = None
        logging.getLogger().removeHandler(self.recent)

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=TICK_EVERY)
            except queue.Empty:
                self._refusals.tick()
                self._failures.tick()
                continue
            if item is None:
                return
            topic, payload = item
            try:
                self.handle(topic, payload)
            except Exception:  # the boundary with the outside: never the end of the thread
                log.exception("remote command on %r failed unexpectedly", topic)
                self._count("failed")

    def handle(self, topic: str, payload: bytes) -> None:
        """Check, run and answer one message received on `topic` (module docstring)."""
        name = commands.name_of(topic, self._root)
        if name is None:
            return
        self._count("received")
        cfg = self._config.remote
        now = time.time()
        verdict = commands.check(
            name, payload, now, allowed=cfg.allow, key=cfg.key, max_ttl=cfg.max_ttl
        )
        if isinstance(verdict, Refusal):
            self._refuse(verdict)
            return
        if name not in commands.HARMLESS and not self._clock_trusted():
            self._refuse(Refusal(name, verdict.id, "clock_unsynced", "send it again once it is"))
            return
        site = self._site
        if site is None:
            self._refuse(Refusal(name, verdict.id, "unavailable", "starting"))
            return
        try:
            new = site.writer.call(
                lambda db: queries.remember_command(db, verdict.id, name, now, verdict.expires)
            )
        except Exception as exc:  # no replay protection, no command: the store must work
            self._refuse(Refusal(name, verdict.id, "unavailable", f"storage: {exc}"))
            return
        if not new:
            self._refuse(Refusal(name, verdict.id, "replayed", "this id was received before"))
            return
        if name == "report_regenerate":
            self._report_apart(site, verdict)
            return
        self._run_command(site, verdict, lambda: handlers.HANDLERS[name](site, verdict))

    def _report_apart(self, site: Site, command: Command) -> None:
        try:
            month = handlers.check_month(command)
        except CommandError as exc:
            self._done(site, command, None, exc)
            return
        if not self._report.acquire(blocking=False):
            self._done(site, command, None, CommandError("busy", "a report is being written"))
            return

        def run() -> None:
            try:
                self._run_command(site, command, lambda: handlers.report_regenerate(site, month))
            finally:
                self._report.release()

        threading.Thread(target=run, name="edged-remote-report", daemon=True).start()

    def _run_command(self, site: Site, command: Command, run: Any) -> None:
        try:
            result = run()
        except CommandError as exc:
            self._done(site, command, None, exc)
        except Exception as exc:
            log.exception("remote command %s (id %s) failed", command.name, command.id)
            self._done(site, command, None, CommandError("failed", f"{type(exc).__name__}: {exc}"))
        else:
            self._done(site, command, result, None)

    def _done(self, site: Site, command: Command, result: Any, error: CommandError | None) -> None:
        ok = error is None
        if ok:
            self._count("ok")
            log.info("remote command %s (id %s) done", command.name, command.id)
            payload = commands.result_payload(command.id, True, result)
        else:
            self._count("failed")
            self._count_error(error.code)
            self._failures.log(
                logging.WARNING,
                "remote command %s (id %s) not done: %s %s",
                command.name,
                command.id,
                error.code,
                error.detail[:200],
            )
            payload = commands.result_payload(command.id, False, None, error.code, error.detail)
        site.publisher.publish_command(commands.result_topic(self._root, command.name), payload)
        try:
            code = None if error is None else error.code
            site.writer.call(lambda db: queries.command_done(db, command.id, ok, code))
        except Exception as exc:  # the command ran; only its outcome's row is missing
            log.warning("outcome of remote command %s not stored: %s", command.id, exc)

    def _refuse(self, refusal: Refusal) -> None:
        self._count("refused")
        self._count_error(refusal.error)
        self._refusals.log(
            logging.WARNING,
            "remote command %r (id %r) refused: %s %s",
            refusal.name[:64],
            refusal.id,
            refusal.error,
            refusal.detail[:200],
        )
        site = self._site
        if site is None:
            return
        name = refusal.name if NAME_OK.match(refusal.name) else INVALID_NAME
        payload = commands.result_payload(refusal.id, False, None, refusal.error, refusal.detail)
        site.publisher.publish_command(commands.result_topic(self._root, name), payload)

    def _count(self, key: str) -> None:
        with self._lock:
            self._stats[key] += 1

    def _count_error(self, code: str) -> None:
        with self._lock:
            self._errors[code] = self._errors.get(code, 0) + 1


class RecentErrors(logging.Handler):
    """The daemon's last `ERRORS_KEPT` warnings and errors, in memory, for `support_summary`."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._kept: deque[dict[str, Any]] = deque(maxlen=ERRORS_KEPT)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string in someone's log call: keep the template
            message = str(record.msg)
        self._kept.append(
            {
                "ts": record.created,
                "level": record.levelname,
                "logger": record.name,
                "message": message[:500],
            }
        )

    def snapshot(self) -> list[dict[str, Any]]:
        self.acquire()  # the lock `handle` holds around `emit`
        try:
            return list(self._kept)
        finally:
            self.release()
