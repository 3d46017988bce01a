"""How each kind of site state or event is written: one statement per kind, for a whole batch.

Every write is idempotent on the table's key (delivery is at least once). Retained states are
upserts; where two states of one thing can be ordered (an alarm by its raise or clear time,
shedding by `since`), a late copy never overwrites a newer one. Device, job and status states
carry no such order and the last one received wins.
"""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from fleet import items
from fleet.timeconv import when


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


def _command_results(conn: psycopg.Connection, items: list) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO command_results (site, name, id, ok, payload, received_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(c.site, c.name, c.id, c.ok, Jsonb(c.payload), at) for c, at in items],
        )


WRITERS = {
    items.Status: _status,
    items.DeviceState: _devices,
    items.Alarm: _alarms,
    items.Health: _health,
    items.Job: _jobs,
    items.JobResult: _job_results,
    items.Shedding: _shedding,
    items.Event: _events,
    items.Report: _reports,
    items.CommandResult: _command_results,
}
