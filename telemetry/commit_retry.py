"""How the Writer's commits fail and are tried again: the batch kept, bounded, and a backoff.

A commit fails on a full disk or an I/O error, or when there is no usable database. Its batch
stays in memory for the next try (the ids it holds are kept, so nothing is written twice),
bounded by `max_queue` samples: on a card that stays full the oldest go, counted as `dropped`.
The tries back off from `commit_interval`, doubling up to `RETRY_MAX`: a full card stays full
for a while and every try costs a transaction's writes. A flush or the final commit of a stop
tries at once whatever the backoff. The first failure is logged as an error, the next ones at
debug level, and the return once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telemetry import store

log = logging.getLogger(__name__)

RETRY_MAX = 30.0
"""Most seconds between two commit attempts while commits fail (disk full): the backoff
doubles from `commit_interval` up to this, so storage resumes within it once there is room."""


class CommitRetry:
    """Commits failed in a row, and the monotonic time before which none is tried again."""

    def __init__(self, max_queue: int, count: Callable[[str, int], None]) -> None:
        self.max_queue = max_queue
        self._count = count
        self.failures = 0
        self._retry_at = 0.0

    def backing_off(self, now: float) -> bool:
        """Whether a commit at monotonic `now` should wait for the backoff."""
        return now < self._retry_at

    def hold(self, batch: store.Batch) -> None:
        """Keep `batch` for the next try, bounded to `max_queue` samples (the rest counted
        as dropped)."""
        self._count("dropped", batch.bound(self.max_queue))

    def failed(
        self, batch: store.Batch, now: float, interval: float, why: BaseException | str
    ) -> None:
        """The commit of `batch` at monotonic `now` failed: back off, hold the batch, log."""
        self.failures += 1
        self._retry_at = now + min(RETRY_MAX, interval * 2.0 ** min(self.failures, 20))
        self._count("commit_failures", 1)
        self.hold(batch)
        log_at = logging.ERROR if self.failures == 1 else logging.DEBUG  # once each way
        log.log(
            log_at,
            "commit failed, keeping %d samples / %d records for the next try: %s",
            batch.sample_count,
            len(batch.records),
            why,
        )

    def succeeded(self) -> None:
        """A commit went through: the next one is tried at its cadence."""
        if self.failures:
            log.info("commits succeed again after %d failed", self.failures)
        self.failures, self._retry_at = 0, 0.0
