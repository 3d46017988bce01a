"""What the Writer refolds at start, and what it must not publish again after a crash.

A window's record goes live before its commit, so after a crash a window that had ended may
have gone out whole while only part of its samples were stored: re-aggregating them would
publish a second, different record under the same `(device, ts)`. The final commit of a clean
stop stores a marker (`kv` `writer.clean_stop`); the next start reads it and deletes it at
once, before anything can go live. Then, per device:
- after a clean stop, the open windows are replayed and resumed (they never went out);
- after a crash, a replayed window that ended by the wall clock is withheld (no record; its
  samples stay in the raw table; `kv` `writer.withheld.{device}` keeps its last seq so no later
  start replays it); one that has not ended is resumed;
- after a crash with the wall clock in doubt (stored samples ahead of it, or the last run was
  labelling windows after the frontier because the clock had stepped back), the clock cannot
  tell which windows went out: every replayed window is withheld, and the device's windows
  start after every window the crashed run could have closed within one commit interval
  (`kv` `writer.frontier.{device}`, stored at once so a second crash keeps it).

SQLite reads and the two small writes at start are here; the Writer stores the rest with its
first batch. Follows docs/mqtt.md ("One (device, ts), one content").
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from dataclasses import dataclass, field

from edged.readings import Sample
from telemetry import store
from telemetry.database import Database
from telemetry.windows import ClosedWindow, WindowAggregator

log = logging.getLogger(__name__)

CLEAN_STOP_KEY = "writer.clean_stop"
"""`kv` key written by the final commit of a clean stop, deleted at the next start."""
WITHHELD_KEY = "writer.withheld."
"""`kv` key prefix (+ device): the last seq of a window withheld at replay after a crash."""
FRONTIER_KEY = "writer.frontier."
"""`kv` key prefix (+ device): windows up to this start are never used again."""


@dataclass(slots=True)
class Replayed:
    """The outcome of a start: windows to store as records, windows withheld, `kv` rows."""

    records: list[ClosedWindow] = field(default_factory=list)
    withheld: list[ClosedWindow] = field(default_factory=list)

    def kv_rows(self) -> list[tuple[str, str]]:
        return [(WITHHELD_KEY + w.record.device, str(w.last_seq)) for w in self.withheld]


def take_clean_stop(db: Database) -> bool:
    """Whether the last run stopped cleanly; the marker is deleted for good first (a later
    crash must not find it). If it cannot be deleted, the start counts as after a crash."""
    conn = db.conn
    if conn.execute("SELECT 1 FROM kv WHERE key = ?", (CLEAN_STOP_KEY,)).fetchone() is None:
        return False
    try:
        with store.transaction(conn):
            conn.execute("DELETE FROM kv WHERE key = ?", (CLEAN_STOP_KEY,))
    except sqlite3.Error as exc:
        log.error("cannot clear the clean-stop marker, replaying as after a crash: %s", exc)
        return False
    return True


def replay(
    db: Database,
    agg: WindowAggregator,
    devices: list[str],
    clean: bool,
    commit_interval: float,
) -> Replayed:
    """Fold the stored samples no record covers into `agg` (see the module docstring)."""
    now = time.monotonic()
    kv = dict(db.execute("SELECT key, value FROM kv WHERE key LIKE 'writer.%'"))
    covered = {}
    for device, last_seq, last_start in db.execute(
        "SELECT device, max(last_seq), max(ts) FROM records GROUP BY device"
    ):
        covered[device] = last_seq
        agg.resume(device, last_start)
    out, frontiers = Replayed(), {}
    for device in devices:
        if FRONTIER_KEY + device in kv:
            agg.resume(device, float(kv[FRONTIER_KEY + device]))
        after = max(covered.get(device, 0), int(kv.get(WITHHELD_KEY + device, 0)))
        samples = store.read_samples(db, device=device, after_seq=after)
        doubt = not clean and _clock_in_doubt(agg, device, [s for _, s in samples])
        for seq, sample in samples:
            for window in agg.add(sample, seq, now):
                ended = window.record.ts + agg.interval <= time.time()
                (out.withheld if doubt or (ended and not clean) else out.records).append(window)
        start = agg.open_start(device)
        if not clean and start is not None and (doubt or start + agg.interval <= time.time()):
            out.withheld.append(agg.drop_open(device))
        if doubt:
            skip = (math.ceil(commit_interval / agg.interval) + 1) * agg.interval
            frontiers[device] = (agg.frontier(device) or 0.0) + skip
            agg.resume(device, frontiers[device])
    _save_frontiers(db, frontiers)
    return out


def at_start(
    db: Database, agg: WindowAggregator, devices: list[str], commit_interval: float
) -> Replayed:
    """The Writer's start: take the clean-stop marker, `replay`, and say what was withheld
    (kept on the card, never published again) and which windows go on."""
    done = replay(db, agg, devices, take_clean_stop(db), commit_interval)
    for window in done.withheld:
        log.warning(
            "window %s of %r ended before the restart and may have gone out live: its %d"
            " stored samples are kept but not published again",
            window.record.ts,
            window.record.device,
            window.record.samples,
        )
    if agg.open_devices:
        log.info("replayed open windows of %s", agg.open_devices)
    return done


def _clock_in_doubt(agg: WindowAggregator, device: str, samples: list[Sample]) -> bool:
    """Did the wall clock step back before the crash (samples were being folded after the
    frontier) or across it (now is before stored data)?"""
    frontier, now = agg.frontier(device), time.time()
    if any(sample.ts > now for sample in samples):
        return True
    if frontier is None:
        return False
    return now < frontier + agg.interval or any(
        agg.window_start(sample.ts) <= frontier for sample in samples
    )


def _save_frontiers(db: Database, frontiers: dict[str, float]) -> None:
    """Stored at once: a crash before the first commit must find them at the next start."""
    if not frontiers:
        return
    for device, frontier in frontiers.items():
        log.warning(
            "the wall clock stepped back around the restart of %r: its next windows start"
            " after %s, past any window the last run may have published",
            device,
            frontier,
        )
    rows = [(FRONTIER_KEY + device, repr(f)) for device, f in frontiers.items()]
    try:
        with store.transaction(db.conn):
            db.conn.executemany(store.ROW_SQL["kv"], rows)
    except sqlite3.Error as exc:
        log.error("cannot store the window frontiers %s: %s", frontiers, exc)
