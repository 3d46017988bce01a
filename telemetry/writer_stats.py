"""The Writer's counters: what a technician reads in the live view (`live.json`, "writer").

They are bumped from the Writer's thread and from the threads that hand it samples (a full
queue drops and counts there), and read by the daemon's live view, so they sit behind a lock.
"""

from __future__ import annotations

import threading

from telemetry import store

COUNTERS = {
    "samples_written": "samples stored",
    "records_created": "records (closed windows) stored",
    "commits": "commits that went through",
    "dropped": "samples lost: the queue was full, or a held batch went past `max_queue`",
    "acked": "outbox rows deleted after the broker's acknowledgement",
    "commit_failures": "commits that failed (disk full, I/O error, no database)",
    "rejected": "samples `samples.storable` refused (a driver bug: a None value, a NaN time)",
    "pruned": "rows deleted after their retention",
    "quarantined": "rows SQLite rejected, kept in `<db>.quarantine`",
    "recoveries": "damaged databases moved aside and replaced by their salvage",
    "replay_withheld": "windows not published again after a crash (they may have gone out)",
    "samples_covered": "samples not stored because a record covers them (keep_raw_samples off)",
}
"""Each counter, and what it counts since the daemon started."""


class WriterStats:
    """The counters of `COUNTERS`, safe to bump and read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def committed(self, done: store.Batch, acked: int) -> None:
        """A commit of `done` went through, deleting `acked` outbox rows."""
        with self._lock:
            self._counts["commits"] += 1
            self._counts["samples_written"] += done.sample_count
            self._counts["records_created"] += len(done.records)
            self._counts["acked"] += acked

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
