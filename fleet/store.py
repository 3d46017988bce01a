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
from psycopg.types.json import Jsonb

from fleet import payloads as p
from fleet.schema import ensure_partitions, month_start, partition_name

log = logging.getLogger(__name__)

STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_records ("
    " site text, device text, ts timestamptz, metrics jsonb, synced boolean,"
    " samples integer, live boolean, received_at timestamptz)"
)


@dataclass(frozen=True)
class Incoming:
    """One message as the network thread handed it over (mid and generation: see collect.py)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_at: float


Parsed = list[p.Item] | p.Rejected | p.Ignored


@dataclass
class Entry:
    message: Incoming
    parsed: Parsed


@dataclass
class BatchResult:
    counts: Counter[str] = field(default_factory=Counter)


def when(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


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
            self._write([Entry(entry.message, p.Rejected(reason))], one)
        result.counts += one.counts

    def _ensure_partitions(self, entries: Iterable[Entry]) -> None:
        months = {
            month_start(item.ts)
            for entry in entries
            if isinstance(entry.parsed, list)
            for item in entry.parsed
            if isinstance(item, p.Record)
        }
        missing = {m for m in months if partition_name(m) not in self._partitions}
        if missing:
            ensure_partitions(self.conn, missing)
            self._partitions.update(partition_name(m) for m in missing)

    def _write(self, entries: Sequence[Entry], result: BatchResult) -> None:
        counts = result.counts
        records: list[tuple[p.Record, datetime]] = []
        sites: dict[str, datetime] = {}
        by_kind: dict[type, list[tuple[p.Item, datetime]]] = {}
        rejects: list[tuple[str, bytes, str, datetime]] = []
        for entry in entries:
            msg, parsed = entry.message, entry.parsed
            received = when(msg.received_at) or datetime.now(UTC)
            counts["messages"] += 1
            if isinstance(parsed, p.Rejected):
                rejects.append((msg.topic, msg.payload, parsed.reason, received))
                continue
            if isinstance(parsed, p.Ignored):
                counts["ignored"] += 1
                continue
            for item in parsed:
                sites[item.site] = max(received, sites.get(item.site, received))
                if isinstance(item, p.Record):
                    records.append((item, received))
                else:
                    by_kind.setdefault(type(item), []).append((item, received))
        self._sites(sites)
        if records:
            self._records(records, counts)
        for kind, items in by_kind.items():
            _WRITERS[kind](self.conn, items)
            counts[f"{kind.__name__.lower()}_messages"] += len(items)
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

    def _records(self, records: list[tuple[p.Record, datetime]], counts: Counter[str]) -> None:
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
            cur.execute(
                "INSERT INTO records (site, device, ts, metrics, synced, samples, live,"
                " received_at)"
                " SELECT DISTINCT ON (site, device, ts) site, device, ts, metrics, synced,"
                " samples, live, received_at FROM stage_records"
                " ORDER BY site, device, ts, live DESC"
                " ON CONFLICT (site, device, ts) DO NOTHING"
            )
            inserted = max(cur.rowcount, 0)
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


def _status(conn: psycopg.Connection, items: list) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE sites SET status = %s, status_at = %s WHERE site = %s",
            [("online" if s.online else "offline", at, s.site) for s, at in items],
        )


def _devices(conn: psycopg.Connection, items: list) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO devices (site, device, state, last_seen, product, serial, firmware,"
            " payload, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (site, device) DO UPDATE SET state = excluded.state,"
            " last_seen = coalesce(excluded.last_seen, devices.last_seen),"
            " product = coalesce(excluded.product, devices.product),"
            " serial = coalesce(excluded.serial, devices.serial),"
            " firmware = coalesce(excluded.firmware, devices.firmware),"
            " payload = excluded.payload, updated_at = excluded.updated_at",
            [
                (
                    d.site,
                    d.device,
                    d.state,
                    when(d.last_seen),
                    d.product,
                    d.serial,
                    d.firmware,
                    Jsonb(d.payload),
                    at,
                )
                for d, at in items
            ],
        )


def _alarms(conn: psycopg.Connection, items: list) -> None:
    rows = []
    for a, at in items:
        body = a.payload
        text = {k: body.get(k) if isinstance(body.get(k), str) else None for k in _ALARM_TEXT}
        rows.append(
            (
                a.site,
                a.alarm_id,
                a.active,
                when(a.at),
                text["severity"],
                when(a.since),
                when(a.cleared),
                text["rule"],
                text["subject"],
                text["message"],
                text["message_en"],
                Jsonb(body),
                at,
            )
        )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO alarms (site, alarm_id, active, at, severity, since, cleared, rule,"
            " subject, message, message_en, payload, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (site, alarm_id) DO UPDATE SET active = excluded.active,"
            " at = excluded.at, severity = excluded.severity, since = excluded.since,"
            " cleared = excluded.cleared, rule = excluded.rule, subject = excluded.subject,"
            " message = excluded.message, message_en = excluded.message_en,"
            " payload = excluded.payload, updated_at = excluded.updated_at"
            " WHERE excluded.at >= alarms.at",
            rows,
        )
        cur.executemany(
            "INSERT INTO alarm_history (site, alarm_id, active, at, payload, received_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(a.site, a.alarm_id, a.active, when(a.at), Jsonb(a.payload), at) for a, at in items],
        )


_ALARM_TEXT = ("severity", "rule", "subject", "message", "message_en")


def _health(conn: psycopg.Connection, items: list) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            'INSERT INTO health (site, component, ts, ok, detail, "values", received_at)'
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [
                (
                    h.site,
                    h.component,
                    when(h.ts),
                    h.ok,
                    h.detail,
                    None if h.values is None else Jsonb(h.values),
                    at,
                )
                for h, at in items
            ],
        )


def _jobs(conn: psycopg.Connection, items: list) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO jobs (site, job, kind, state, progress, payload, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (site, job) DO UPDATE"
            " SET kind = excluded.kind, state = excluded.state, progress = excluded.progress,"
            " payload = excluded.payload, updated_at = excluded.updated_at",
            [(j.site, j.job, j.kind, j.state, j.progress, Jsonb(j.payload), at) for j, at in items],
        )


def _job_results(conn: psycopg.Connection, items: list) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO job_results (site, job, started, ended, outcome, exit_code,"
            " duration_s, payload, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            [
                (
                    r.site,
                    r.job,
                    when(r.started),
                    when(r.ended),
                    r.outcome,
                    r.exit_code,
                    r.duration_s,
                    Jsonb(r.payload),
                    at,
                )
                for r, at in items
            ],
        )


def _shedding(conn: psycopg.Connection, items: list) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO shedding (site, level, since, code, payload, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (site) DO UPDATE"
            " SET level = excluded.level, since = excluded.since, code = excluded.code,"
            " payload = excluded.payload, updated_at = excluded.updated_at"
            " WHERE shedding.since IS NULL OR excluded.since IS NULL"
            " OR excluded.since >= shedding.since",
            [(s.site, s.level, when(s.since), s.code, Jsonb(s.payload), at) for s, at in items],
        )


def _events(conn: psycopg.Connection, items: list) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO events (site, kind, digest, payload, received_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(e.site, e.kind, e.digest, Jsonb(e.payload), at) for e, at in items],
        )


def _reports(conn: psycopg.Connection, items: list) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO reports (site, month, summary, received_at) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (site, month) DO UPDATE"
            " SET summary = excluded.summary, received_at = excluded.received_at",
            [(r.site, r.month, Jsonb(r.summary), at) for r, at in items],
        )


_WRITERS = {
    p.Status: _status,
    p.DeviceState: _devices,
    p.Alarm: _alarms,
    p.Health: _health,
    p.Job: _jobs,
    p.JobResult: _job_results,
    p.Shedding: _shedding,
    p.Event: _events,
    p.Report: _reports,
}
