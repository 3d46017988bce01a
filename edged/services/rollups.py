"""Hourly in the daemon: roll the new records up, then prune the raw records the rollups cover.

Each round runs in a child process (`python -m edged.services.rollups`), as the monthly report
does: a first round over a long history or backlog grew the daemon's heap by up to 7 MB that
`malloc_trim` could not give back (fragmented arenas, README "Figures"), and the report code it
imports stayed loaded. The child exits, so all of it goes back to the system; the daemon keeps
only a thread that waits for it. At most one round at a time; the child holds the write lock only
for its writes (`roll_up`), so the Writer's commits are not held up. Records go after
`storage.record_retention_days`, only once rolled up and acknowledged by the broker; the hourly
and daily rollups stay for years (about 2 MB per device-year, docs/report.md).

The child logs to stderr like the daemon (journald under systemd) and prints one JSON line,
`{"rolled": N, "pruned": M}`; a failed round (exit non-zero, killed, unreadable answer) is
logged and counted (`failures`), and the next hour tries again.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from edged.config.settings import Config

log = logging.getLogger("edged.services.rollups")  # the same name in the child (-m)

CHILD_TIMEOUT = 3000.0
"""Seconds a round may take before it is killed: under the hour, so rounds never pile up. A
first round over months of records took seconds here (bench/bench_rollups.py)."""


class RollupTask:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[str] | None = None
        self._stopping = threading.Event()
        self._starting = threading.Lock()  # a child is never started once join() began
        self.last: tuple[int, int] | None = None  # (records rolled up, records pruned)
        self.failures = 0
        self.command: Callable[[], list[str]] = self._command
        """The child's command line (a test may replace it)."""

    def _command(self) -> list[str]:
        storage = self._config.storage
        return [
            sys.executable,
            "-m",
            "edged.services.rollups",
            "--db",
            str(storage.path),
            "--interval",
            repr(float(self._config.telemetry.publish_interval)),
            "--retention-days",
            repr(float(storage.record_retention_days)),
            "--log-level",  # the daemon's: `edged --log-level WARNING run` keeps the child quiet
            logging.getLevelName(logging.getLogger().getEffectiveLevel()),
        ]

    def start(self) -> None:
        """Start a round in the background unless one is still running."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self.run_once, name="rollups", daemon=True)
        self._thread.start()

    def run_once(self) -> tuple[int, int] | None:
        """One round in a child process; its counts, or None (logged, counted) if it failed."""
        try:
            with self._starting:
                if self._stopping.is_set():
                    return None
                self._child = subprocess.Popen(
                    self.command(), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
                )
            out, _ = self._child.communicate(timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.communicate()
            return self._failed(f"killed after {CHILD_TIMEOUT:.0f} s")
        except OSError as exc:  # cannot start a process at all (no memory, no executable)
            return self._failed(f"cannot start it: {exc}")
        code = self._child.returncode
        if code != 0:
            return self._failed(f"exit status {code}")
        try:
            answer = json.loads(out.strip().splitlines()[-1])
            rolled, pruned = int(answer["rolled"]), int(answer["pruned"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return self._failed(f"unreadable answer {out[-200:]!r} ({exc})")
        self.last = (rolled, pruned)
        return self.last

    def _failed(self, why: str) -> None:  # returns None: run_once's failed answer
        self.failures += 1
        if not self._stopping.is_set():
            log.error("rollups failed (retried next hour): %s", why)
        return None

    def join(self, timeout: float) -> None:
        """Wait up to `timeout` for a running round, then end its child (the daemon stops)."""
        with self._starting:
            self._stopping.set()
        if self._thread is None:
            return
        self._thread.join(timeout)
        child = self._child
        if self._thread.is_alive() and child is not None and child.poll() is None:
            log.warning("stopping the rollups round (it resumes at the next start)")
            child.terminate()  # its transactions are short: a cut one is rolled back
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
            self._thread.join(5)


def round_in_process(path: str, interval_s: float, retention_days: float) -> tuple[int, int]:
    """Roll up and prune on `path`: the child's work. Raises StoreError or DatabaseError."""
    from maintenance.report.rollup_store import prune_records, roll_up
    from telemetry.store import open_db

    now = time.time()
    db = open_db(path)
    try:
        rolled = roll_up(db, now, interval_s)
        pruned = prune_records(db, now - retention_days * 86400)
    finally:
        db.conn.close()
    return rolled, pruned


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m edged.services.rollups --db PATH --interval S --retention-days D`."""
    from telemetry.database import DatabaseError
    from telemetry.store import StoreError

    parser = argparse.ArgumentParser(description="one rollups round (run by the daemon)")
    parser.add_argument("--db", required=True)
    parser.add_argument("--interval", type=float, required=True, help="publish interval, s")
    parser.add_argument("--retention-days", type=float, required=True)
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        rolled, pruned = round_in_process(args.db, args.interval, args.retention_days)
    except (StoreError, DatabaseError) as exc:  # disk full, locked too long, damaged
        log.error("rollups failed (retried next hour): %s", exc)
        return 1
    if rolled or pruned:
        log.info("rolled up %d record(s), pruned %d rolled-up record(s)", rolled, pruned)
    print(json.dumps({"rolled": rolled, "pruned": pruned}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
