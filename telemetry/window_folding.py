"""Queued samples into the pending batch and their windows; closed windows out live at once.

About every second the Writer folds what runners queued: each sample goes into its device's
block of the batch (one block per device per commit, whatever the number of folds: the card
pays per block) and, as stored, into its window (`telemetry.windows`), so a window replayed
at start equals the live one. A window that closes becomes a record with its id in the batch,
and is handed to `on_closed` then, not at the next commit: the publisher sends it live while
its window is fresh, and it is stored, with its outbox row unless already acknowledged, with
the next commit like every record. Runs on the Writer's thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from edged.readings import Record, Sample
from telemetry import store
from telemetry.windows import ClosedWindow, WindowAggregator

log = logging.getLogger(__name__)

CLOSE_EVERY = 1.0
"""Most seconds between folds of the queued samples into their windows (in memory, no write):
a window's record is handed to `on_closed` about a second after it ends, not at the next
commit; a quarter of the publish interval when that is shorter, so a record is still live
(its window ended less than one interval ago) when it reaches the publisher."""


class WindowFolding:
    """The open windows (`agg`) and how often they are folded (`every`, seconds)."""

    def __init__(
        self,
        publish_interval: float,
        grace: float | None,
        on_closed: Callable[[list[Record]], None] | None,
    ) -> None:
        self.agg = WindowAggregator(publish_interval, grace)
        self.every = min(CLOSE_EVERY, publish_interval / 4)
        self._on_closed = on_closed

    def fold(
        self, batch: store.Batch, ids: store.Ids, by_device: dict[str, list[Sample]], now: float
    ) -> None:
        """Put `by_device` (storable samples, in order) into `batch` and their windows; close
        the windows due at monotonic `now`; hand the records of every window that closed to
        `on_closed`."""
        before = len(batch.records)
        for device, group in by_device.items():
            block = batch.block_for(device, ids)
            for sample in group:
                if not block.has_room():
                    block = batch.block_for(device, ids)
                block.samples.append(sample)
                self.add_closed(batch, ids, self.agg.add(sample, block.last_seq, now))
        self.add_closed(batch, ids, self.agg.close_due(now))
        closed = batch.records[before:]
        if not closed or self._on_closed is None:
            return
        try:
            self._on_closed([store.with_id(record, rid) for rid, record, _ in closed])
        except Exception:  # the publisher's bug must not stop storage; the outbox has them
            log.exception("on_closed callback failed; the records go out after their commit")

    @staticmethod
    def add_closed(batch: store.Batch, ids: store.Ids, windows: list[ClosedWindow]) -> None:
        """Closed windows into `batch` as records, each with the next record id of `ids`."""
        for window in windows:
            batch.records.append((ids.next_record_id, *window))
            ids.next_record_id += 1
