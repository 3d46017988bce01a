"""Write one batch of parsed messages into PostgreSQL, in one transaction.

The collector acknowledges a batch's messages to the broker only after `write_batch` returned,
that is after the commit holding them, so this module never commits part of a batch. Records go
through COPY into a temporary staging table and then `INSERT ... SELECT ... ON CONFLICT DO
NOTHING`: COPY alone aborts on the first duplicate key, and duplicates are certain under
at-least-once delivery. Retained states (device, alarm, job, shedding) are upserts where a late
copy never overwrites a newer state it can be ordered against.

If PostgreSQL refuses the batch for its content (not for a lost connection), each message is
retried alone under a savepoint, and the one it refuses becomes a reject with the server's
reason: one bad message must not hold every other one back forever.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from fleet import items
from fleet.schema import ensure_partitions, month_start, partition_name
from fleet.tables import WRITERS
from fleet.timeconv import when

log = logging.getLogger(__name__)

STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_records ("
    " site text, device text, ts timestamptz, metrics jsonb, synced boolean,"
    " samples integer, live boolean, received_at timestamptz)"
)


# The records a batch really inserted (not its duplicates) are added to `device_daily` in the
# same statement, so the overview's daily figures (completeness, PV, SOC trend) never scan the
# time series and count each record once, late history included. A metric that is not a JSON
# number is left out of the sums instead of failing the cast (and the batch).
INSERT_RECORDS = """
WITH inserted AS (
    INSERT INTO records (site, device, ts, metrics, synced, samples, live, received_at)
    SELECT DISTINCT ON (site, device, ts) site, device, ts, metrics, synced, samples, live,
        received_at
    FROM stage_records ORDER BY site, device, ts, live DESC
    ON CONFLICT (site, device, ts) DO NOTHING
    RETURNING site, device, ts, metrics
), numbers AS (
    SELECT site, device, (ts AT TIME ZONE 'UTC')::date AS day,
        CASE WHEN jsonb_typeof(metrics->'pv_power') = 'number'
            THEN (metrics->>'pv_power')::float8 END AS pv,
        CASE WHEN jsonb_typeof(metrics->'battery_soc') = 'number'
            THEN (metrics->>'battery_soc')::float8 END AS soc
    FROM inserted
), daily AS (
    INSERT INTO device_daily AS d (site, device, day, records, pv_power_sum, pv_n, soc_sum, soc_n)
    SELECT site, device, day, count(*), coalesce(sum(pv), 0), count(pv), coalesce(sum(soc), 0),
        count(soc)
    FROM numbers GROUP BY site, device, day ORDER BY site, device, day  -- lock order
    ON CONFLICT (site, device, day) DO UPDATE SET records = d.records + excluded.records,
        pv_power_sum = d.pv_power_sum + excluded.pv_power_sum, pv_n = d.pv_n + excluded.pv_n,
        soc_sum = d.soc_sum + excluded.soc_sum, soc_n = d.soc_n + excluded.soc_n
)
SELECT count(*) FROM inserted
"""


@dataclass(frozen=True)
class Incoming:
    """One message as the network thread handed it over (mid and generation: see collect.py)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_at: float


Parsed = list[items.Item] | items.Rejected | items.Ignored


@dataclass
class Entry:
    message: Incoming
    parsed: Parsed


@dataclass
class BatchResult:
    counts: Counter[str] = field(default_factory=Counter)


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


class Store:
    """The collector's one connection; `write_batch` is its only writer method."""

    def __init__(self, conn: psycopg.Connection, collector: str) -> None:
        self.conn = conn
        self.collector = collector
        self._partitions: set[str] = set()
        conn.execute(STAGE_DDL)
        conn.commit()

    def write_batch(self, entries: Sequence[Entry], extra: Counter[str]) -> BatchResult:
        """Commit every entry (or raise with nothing committed); `extra`: counters to add."""
        self._ensure_partitions(entries)
        result = BatchResult()
        try:
            with self.conn.transaction():
                self._write(entries, result)
                self._add_counters(result.counts + extra)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except psycopg.Error as exc:
            log.warning("batch of %d refused (%s); writing message by message", len(entries), exc)
            # a partition dropped behind our back (retention) is not the messages' fault
            self._partitions.clear()
            self._ensure_partitions(entries)
            result = BatchResult()
            with self.conn.transaction():
                for entry in entries:
                    self._write_alone(entry, result)
                self._add_counters(result.counts + extra)
        return result

    def _write_alone(self, entry: Entry, result: BatchResult) -> None:
        one = BatchResult()
        try:
            with self.conn.transaction():  # a savepoint inside the batch's transaction
                self._write([entry], one)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except psycopg.Error as exc:
            reason = f"database refused: {str(exc).strip()[:200]}"
            log.warning("reject %r: %s", entry.message.topic, reason)
            one = BatchResult()
            self._write([Entry(entry.message, items.Rejected(reason))], one)
        result.counts += one.counts

    def _ensure_partitions(self, entries: Iterable[Entry]) -> None:
        months = {
            month_start(item.ts)
            for entry in entries
            if isinstance(entry.parsed, list)
            for item in entry.parsed
            if isinstance(item, items.Record)
        }
        missing = {m for m in months if partition_name(m) not in self._partitions}
        if missing:
            ensure_partitions(self.conn, missing)
            self._partitions.update(partition_name(m) for m in missing)

    def _write(self, entries: Sequence[Entry], result: BatchResult) -> None:
        counts = result.counts
        records: list[tuple[items.Record, datetime]] = []
        sites: dict[str, datetime] = {}
        by_kind: dict[type, list[tuple[items.Item, datetime]]] = {}
        rejects: list[tuple[str, bytes, str, datetime]] = []
        for entry in entries:
            msg, parsed = entry.message, entry.parsed
            received = when(msg.received_at) or datetime.now(UTC)
            counts["messages"] += 1
            if isinstance(parsed, items.Rejected):
                rejects.append((msg.topic, msg.payload, parsed.reason, received))
                continue
            if isinstance(parsed, items.Ignored):
                counts["ignored"] += 1
                continue
            for item in parsed:
                sites[item.site] = max(received, sites.get(item.site, received))
                if isinstance(item, items.Record):
                    records.append((item, received))
                else:
                    by_kind.setdefault(type(item), []).append((item, received))
        self._sites(sites)
        if records:
            self._records(records, counts)
        for kind, of_kind in by_kind.items():
            WRITERS[kind](self.conn, of_kind)
            counts[f"{kind.__name__.lower()}_messages"] += len(of_kind)
        if rejects:
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO rejects (topic, payload, reason, received_at)"
                    " VALUES (%s, %s, %s, %s)",
                    rejects,
                )
            counts["rejected"] += len(rejects)

    def _sites(self, sites: dict[str, datetime]) -> None:
        if not sites:
            return
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO sites (site, first_seen, last_seen) VALUES (%s, %s, %s)"
                " ON CONFLICT (site) DO UPDATE"
                " SET last_seen = greatest(sites.last_seen, excluded.last_seen)",
                [(site, at, at) for site, at in sorted(sites.items())],
            )

    def _records(self, records: list[tuple[items.Record, datetime]], counts: Counter[str]) -> None:
        with self.conn.cursor() as cur:
            with cur.copy(
                "COPY stage_records (site, device, ts, metrics, synced, samples, live,"
                " received_at) FROM STDIN"
            ) as copy:
                for r, received in records:
                    copy.write_row(
                        (
                            r.site,
                            r.device,
                            when(r.ts),
                            _dump(r.metrics),
                            r.synced,
                            r.samples,
                            r.live,
                            received,
                        )
                    )
            # a record may come twice in one batch (live, then in history): keep the live copy
            cur.execute(INSERT_RECORDS)
            row = cur.fetchone()
            inserted = int(row[0]) if row else 0
            cur.execute(
                "INSERT INTO site_latest (site, device, ts, metrics, synced, received_at)"
                " SELECT DISTINCT ON (site, device) site, device, ts, metrics, synced,"
                " received_at FROM stage_records ORDER BY site, device, ts DESC"
                " ON CONFLICT (site, device) DO UPDATE SET ts = excluded.ts,"
                " metrics = excluded.metrics, synced = excluded.synced,"
                " received_at = excluded.received_at WHERE excluded.ts > site_latest.ts"
            )
            cur.execute("DELETE FROM stage_records")
        counts["records_received"] += len(records)
        counts["records_inserted"] += inserted
        counts["records_duplicate"] += len(records) - inserted
        counts["records_unsynced"] += sum(1 for r, _ in records if not r.synced)

    def _add_counters(self, counts: Counter[str]) -> None:
        rows = [(self.collector, name, value) for name, value in sorted(counts.items()) if value]
        if not rows:
            return
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO collector_counters (collector, name, value) VALUES (%s, %s, %s)"
                " ON CONFLICT (collector, name) DO UPDATE"
                " SET value = collector_counters.value + excluded.value, updated_at = now()",
                rows,
            )
