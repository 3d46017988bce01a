"""What the delivery bookkeeping hands the publisher: a message to send, or an outbox read.

Plain values shared by `telemetry.delivery` (which decides), `telemetry.batching` (the frugal
mode's batches) and `telemetry.mqtt` (which encodes and sends); no behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edged.readings import Record

HealthRow = tuple[str, dict[str, Any]]
"""One health reading waiting for a batch: (component, its `P/health` body)."""


@dataclass(slots=True, frozen=True)
class Outgoing:
    """A message to hand to the broker. `live`, `history` and `batch` carry their records (the
    publisher encodes them: one live record, one device's history, or the frugal mode's batch
    of every device's records with `health` rows); the others carry a topic and a payload built
    by the caller (`control`, `state`, `health`, `command`)."""

    kind: str
    topic: str = ""
    payload: bytes = b""
    retain: bool = False
    records: tuple[Record, ...] = ()
    health: tuple[HealthRow, ...] = ()


@dataclass(slots=True, frozen=True)
class SweepQuery:
    """The outbox read the sweep wants: ids in (after_id, upto_id], not in `exclude`, oldest
    first, at most `limit` (`telemetry.outbox.pending`'s arguments)."""

    after_id: int
    upto_id: int
    exclude: tuple[int, ...]
    limit: int
