"""The central database's schema, as numbered migrations applied once each, in order.

`migrate()` runs at `edged-fleet migrate` and at every collector start; several collectors may
start at once, so it takes a PostgreSQL advisory lock and each migration commits with its row in
`schema_migrations`. A migration is never edited once released: a change is a new migration.

Records are one wide row per record (the device's metrics as one jsonb), partitioned by month on
`ts` with partitions created on demand (`ensure_partitions`), also for late history and for the
odd dates of a Pi whose clock was never set. The primary key `(site, device, ts)` is what makes
at-least-once delivery idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

# an arbitrary constant, the same in every collector: serialises migrations and partition DDL
MIGRATION_LOCK = 0x6564_6765_6466_6C74  # "edgedflt"

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial schema",
        """
CREATE TABLE sites (
    site text PRIMARY KEY,
    status text,                      -- 'online' / 'offline' as the site last said it
    status_at timestamptz,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE devices (
    site text NOT NULL,
    device text NOT NULL,
    state text,                       -- ok / stale / offline
    last_seen timestamptz,
    product text,
    serial text,
    firmware text,
    payload jsonb NOT NULL,           -- the whole retained message, unknown keys included
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, device)
);
CREATE TABLE records (
    site text NOT NULL,
    device text NOT NULL,
    ts timestamptz NOT NULL,
    metrics jsonb NOT NULL,
    synced boolean NOT NULL,          -- false: the Pi's clock was not synchronised, ts may be off
    samples integer,                  -- null for history, which does not carry it
    live boolean NOT NULL,            -- came on P/telemetry (true) or P/history (false)
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, device, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE site_latest (
    site text NOT NULL,
    device text NOT NULL,
    ts timestamptz NOT NULL,
    metrics jsonb NOT NULL,
    synced boolean NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (site, device)
);
CREATE TABLE alarms (
    site text NOT NULL,
    alarm_id text NOT NULL,
    active boolean NOT NULL,
    at timestamptz NOT NULL,          -- since (raise) or cleared (clear): a late copy loses
    severity text,
    since timestamptz,
    cleared timestamptz,
    rule text,
    subject text,
    message text,
    message_en text,
    payload jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, alarm_id)
);
CREATE TABLE alarm_history (
    site text NOT NULL,
    alarm_id text NOT NULL,
    active boolean NOT NULL,
    at timestamptz NOT NULL,          -- since (raise) or cleared (clear)
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, alarm_id, active, at)
);
CREATE TABLE health (
    site text NOT NULL,
    component text NOT NULL,
    ts timestamptz NOT NULL,
    ok boolean,
    detail text,
    "values" jsonb,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, component, ts)
);
CREATE TABLE jobs (
    site text NOT NULL,
    job text NOT NULL,
    kind text,
    state text,
    progress double precision,
    payload jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, job)
);
CREATE TABLE job_results (
    site text NOT NULL,
    job text NOT NULL,
    started timestamptz NOT NULL,
    ended timestamptz,
    outcome text,
    exit_code integer,
    duration_s double precision,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, job, started)
);
CREATE TABLE shedding (
    site text PRIMARY KEY,
    level text,
    since timestamptz,
    code text,
    payload jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE events (
    site text NOT NULL,
    kind text NOT NULL,
    digest text NOT NULL,             -- md5 of the payload: a redelivered event is stored once
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, kind, digest)
);
CREATE TABLE reports (
    site text NOT NULL,
    month text NOT NULL,
    summary jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, month)
);
CREATE TABLE rejects (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    payload bytea NOT NULL,
    reason text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE collector_counters (
    collector text NOT NULL,
    name text NOT NULL,
    value bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collector, name)
);
CREATE VIEW counters AS
    SELECT name, sum(value)::bigint AS value, max(updated_at) AS updated_at
    FROM collector_counters GROUP BY name;
""",
    ),
    (
        2,
        "dashboard: accounts, site info, daily aggregates, centre alarms, acknowledgements",
        """
-- what ANTIM knows of a site that the site does not say: its name, region and command key
CREATE TABLE site_info (
    site text PRIMARY KEY,
    name text,
    region text,
    cmd_key text                      -- HMAC key for signed commands; null: commands unsigned
);
-- one row per device and UTC day (Mali has no DST and is on UTC), added to on ingest from the
-- records actually inserted (never twice for a duplicate), late history included
CREATE TABLE device_daily (
    site text NOT NULL,
    device text NOT NULL,
    day date NOT NULL,
    records integer NOT NULL,
    pv_power_sum double precision NOT NULL DEFAULT 0,   -- W, summed over the day's records
    pv_n integer NOT NULL DEFAULT 0,
    soc_sum double precision NOT NULL DEFAULT 0,
    soc_n integer NOT NULL DEFAULT 0,
    PRIMARY KEY (site, device, day)
);
-- the overview reads the last 8 days of every site: without it, a scan of the whole year
CREATE INDEX device_daily_day ON device_daily (day);
-- 'site': published by the site; 'centre': raised by the centre (no data)
ALTER TABLE alarms ADD COLUMN origin text NOT NULL DEFAULT 'site';
CREATE INDEX alarms_active ON alarms (site) WHERE active;
CREATE INDEX alarm_history_at ON alarm_history (at) WHERE active;
-- the overview's last backup of each site: newest run first, without sorting a year of runs
CREATE INDEX job_results_latest ON job_results (site, started DESC);
CREATE TABLE command_results (
    site text NOT NULL,
    name text NOT NULL,
    id text NOT NULL,
    ok boolean,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, name, id)
);
CREATE TABLE users (
    username text PRIMARY KEY,
    password_hash text NOT NULL,      -- scrypt$n$r$p$salt_hex$hash_hex
    lang text NOT NULL DEFAULT 'fr',
    created_at timestamptz NOT NULL DEFAULT now(),
    disabled boolean NOT NULL DEFAULT false
);
CREATE TABLE web_sessions (
    token_hash text PRIMARY KEY,      -- sha256 of the cookie: a stolen table opens no session
    username text NOT NULL REFERENCES users ON DELETE CASCADE,
    csrf text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
-- an acknowledgement of one raise of one alarm (a new raise needs a new one); it never clears
CREATE TABLE alarm_acks (
    site text NOT NULL,
    alarm_id text NOT NULL,
    since timestamptz NOT NULL,
    by_user text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    comment text NOT NULL DEFAULT '',
    command_id text,                  -- the alarm_ack command sent to the site; null: not sent
    send_error text,
    PRIMARY KEY (site, alarm_id, since)
);
-- a technician's visit for one raise of an alarm, logged at the centre: time to visit per region
CREATE TABLE alarm_visits (
    site text NOT NULL,
    alarm_id text NOT NULL,
    since timestamptz NOT NULL,       -- the raise it answers
    visited_on date NOT NULL,
    by_user text NOT NULL,
    note text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, alarm_id, since, visited_on)
);
""",
    ),
]


def migrate(conn: psycopg.Connection) -> list[int]:
    """Apply every migration not yet applied; returns the versions applied now."""
    applied_now: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, name, sql in MIGRATIONS:
            if version in done:
                continue
            log.info("applying migration %d: %s", version, name)
            conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
            )
            applied_now.append(version)
    return applied_now


def schema_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def month_start(ts: float) -> datetime:
    moment = datetime.fromtimestamp(ts, UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def _next_month(start: datetime) -> datetime:
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def partition_name(start: datetime) -> str:
    return f"records_{start.year:04d}_{start.month:02d}"


def ensure_partitions(conn: psycopg.Connection, months: Iterable[datetime]) -> list[str]:
    """Create the monthly partitions of `records` that are missing; returns those created.

    Its own transaction under the advisory lock, so two collectors meeting the same new month
    do not both try to create it (CREATE ... IF NOT EXISTS alone still races in the catalogue).
    """
    created: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        for start in sorted(set(months)):
            name = partition_name(start)
            exists = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
            if exists and exists[0] is not None:
                continue
            conn.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF records FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(name), sql.Literal(start), sql.Literal(_next_month(start))
                )
            )
            created.append(name)
            log.info("created partition %s", name)
    return created
