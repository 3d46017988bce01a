"""Schema migrations of the SD-card database, one per `PRAGMA user_version`.

`telemetry.store.migrate` applies the missing ones, each in one transaction with its version
bump, so a power cut mid-migration leaves the previous version intact. A migration is SQL text or
a function of the connection (for conversions SQL cannot do, such as compressing sample blocks).

Tables (v2), and why:
- `devices`: device names interned to small ids for `sample_blocks`.
- `sample_blocks`: raw samples, one zlib block per device per commit (`telemetry.samples`).
- `records`: one row per device per publish window (the aggregate that is published). `last_seq`
  is the newest sample folded into it, so a restart can rebuild the window it was in.
- `outbox`: ids of records not yet acknowledged by the broker; deleted only after PUBACK.
- `device_state`: what the runners last concluded, plus `block`, a hint to the device's newest
  sample block that bounds `edged status`'s search (see `telemetry.samples.latest`).
- `events`: counted, logged events.
- view `samples(seq, device_id)`: one row per stored sample, expanded from the blocks, for the
  sqlite3 shell and tests (`count(*)`, `max(seq)`); it reads every block, so code never uses it.

v2 dropped v1's `records(device, ts)` index: it cost a page per record and nothing read by it.

v3 (equipment health and alarms):
- `alarms`: one row per occurrence (raised, then cleared in place), the history `edged alarms`
  lists; `alarm_id` is `{rule}.{subject}`, the `P/alarm/{alarm_id}` topic level. The partial
  index holds only active rows, so it stays a page or two however long the history grows.
- `health`: one row per component per health round (values as compact JSON), for the monthly
  report; appended in the Writer's commit, pruned with the samples.
- `kv`: small daemon state kept across restarts (glasses usage, uplink traffic counters).

v4 (maintenance log):
- `maintenance_log`: one row per technician's visit (`edged maintenance log`), read by the
  monthly report's costs. `date` is the visit's day (YYYY-MM-DD, as typed), `recorded_at` when
  the row was written (unix s). A few rows a month: no index.

v5 (power-aware jobs and load shedding, docs/power-policy.md):
- `job_runs`: one row per finished run of a backup/sync/report job (`outcome`: success, failed,
  timeout, stopped_low_battery, stopped_shutdown, error), with the tail of its output; `trigger`
  is `schedule` or `manual` (`edged backup --now`). Read by `edged schedule`, status, reports.
- `power_events`: decisions worth keeping: a job deferred or started (one row when the reason
  changes, not one per minute), load-shedding level changes, services stopped/started.

v6 (long-term rollups, docs/report.md):
- `rollups`: one row per device per UTC hour (`period_s` 3600) or day (86400), what the monthly
  report needs of the records (`maintenance.report.rollups`), kept for years so raw records can
  be pruned. `body` is the row's compact JSON deflated against a preset dictionary of its keys
  and the metric names (`maintenance.report.rollup_store`): ~0.1-0.2 KiB an hour. A rowid table
  (a WITHOUT ROWID row over ~230 bytes would spill to an overflow page at 1 KiB pages) with its
  key indexed in time order, so hourly inserts append. `roll_up` keeps its progress (the last
  record id rolled up and each device's last record) in `kv` under `rollups`.

v7 (remote commands, docs/mqtt.md "Commands"):
- `commands`: one row per command id that passed its checks, written (and committed) before the
  command runs, so an id delivered twice (QoS 1 is at least once; a broker's persistent session
  replays after a restart) is never run twice, across restarts too. `ok`/`error` are filled in
  once it ran. Rows are pruned a week after their expiry: by then a replay is refused as expired.

v8 (the SD card, issue 18):
- `records.metrics` holds a BLOB, the metrics code-keyed and deflated (`telemetry.stored_metrics`:
  ~100 B instead of ~460 B of JSON), read in SQL through `metrics_json(metrics)`. The column's
  declared type stays TEXT (SQLite stores a BLOB as it is), so no table is rebuilt: the step sets
  a progress mark and `telemetry.metrics_migration` converts the old rows in bounded batches.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from edged.readings import Sample
from telemetry import metrics_migration
from telemetry import samples as blocks

V1 = """
    CREATE TABLE devices (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE layouts (id INTEGER PRIMARY KEY, names TEXT NOT NULL UNIQUE);
    CREATE TABLE samples (
        seq INTEGER PRIMARY KEY, device_id INTEGER NOT NULL, ts REAL NOT NULL,
        synced INTEGER NOT NULL, layout_id INTEGER NOT NULL, vals TEXT NOT NULL);
    CREATE TABLE records (
        id INTEGER PRIMARY KEY, device TEXT NOT NULL, ts REAL NOT NULL,
        synced INTEGER NOT NULL, samples INTEGER NOT NULL, last_seq INTEGER NOT NULL,
        metrics TEXT NOT NULL);
    CREATE INDEX records_device_ts ON records(device, ts);
    CREATE TABLE outbox (record_id INTEGER PRIMARY KEY);
    CREATE TABLE device_state (
        device TEXT PRIMARY KEY, state TEXT NOT NULL, last_seen REAL, info TEXT NOT NULL,
        counters TEXT NOT NULL, changed REAL NOT NULL);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
        message TEXT NOT NULL);
"""

V2_CREATE = (
    """CREATE TABLE sample_blocks (
        first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL, device_id INTEGER NOT NULL,
        ts_min REAL NOT NULL, ts_max REAL NOT NULL, data BLOB NOT NULL)""",
    "ALTER TABLE device_state ADD COLUMN block INTEGER",
)
V2_FINISH = (
    "DROP INDEX records_device_ts",
    "DROP TABLE samples",
    "DROP TABLE layouts",
    """CREATE VIEW samples (seq, device_id) AS
        WITH RECURSIVE s (seq, last_seq, device_id) AS (
            SELECT first_seq, last_seq, device_id FROM sample_blocks
            UNION ALL SELECT seq + 1, last_seq, device_id FROM s WHERE seq < last_seq)
        SELECT seq, device_id FROM s""",
)

MIGRATED_BLOCK = 600
"""Most samples per block converted from v1 (v1 rows of one device in a row, seqs contiguous)."""


def v2_sample_blocks(conn: sqlite3.Connection) -> None:
    """v1 -> v2: convert every `samples` row into blocks, keeping its seq; drop v1's leftovers.

    Timestamps are rounded to the millisecond (v2's resolution); a metric stored as null in v1
    (a driver bug v1 let through) is dropped from its sample, and a sample that still cannot be
    stored leaves a seq gap (a block boundary) rather than stopping the upgrade. Runs once, in
    one transaction: a power cut during it leaves the v1 file as it was.
    """
    for sql in V2_CREATE:
        conn.execute(sql)
    rows = conn.execute(
        "SELECT s.seq, s.device_id, d.name, s.ts, s.synced, l.names, s.vals FROM samples AS s"
        " JOIN devices AS d ON d.id = s.device_id JOIN layouts AS l ON l.id = s.layout_id"
        " ORDER BY s.seq"
    )
    run: blocks.Block | None = None
    run_device = 0
    for seq, device_id, name, ts, synced, names, vals in rows:
        metrics = {
            k: v for k, v in zip(json.loads(names), json.loads(vals), strict=True) if v is not None
        }
        sample = blocks.storable(Sample(name, ts, bool(synced), metrics))
        if sample is None:
            continue
        if (
            run is None
            or (device_id, seq) != (run_device, run.last_seq + 1)
            or (len(run.samples) >= MIGRATED_BLOCK)
        ):
            _insert(conn, run, run_device)
            run, run_device = blocks.Block(name, seq, []), device_id
        run.samples.append(sample)
    _insert(conn, run, run_device)
    for sql in V2_FINISH:
        conn.execute(sql)
    for (device,) in conn.execute("SELECT device FROM device_state").fetchall():
        conn.execute(blocks.UPDATE_BLOCK_HINT, [device])


def _insert(conn: sqlite3.Connection, block: blocks.Block | None, device_id: int) -> None:
    if block is not None:
        conn.execute("INSERT INTO sample_blocks VALUES (?, ?, ?, ?, ?, ?)", block.row(device_id))


V3 = """
    CREATE TABLE alarms (
        id INTEGER PRIMARY KEY, alarm_id TEXT NOT NULL, rule TEXT NOT NULL,
        subject TEXT NOT NULL, severity TEXT NOT NULL, active INTEGER NOT NULL,
        since REAL NOT NULL, cleared REAL, acked_at REAL, acked_by TEXT,
        message TEXT NOT NULL, message_en TEXT NOT NULL, value TEXT);
    CREATE INDEX alarms_active ON alarms(alarm_id) WHERE active = 1;
    CREATE TABLE health (
        id INTEGER PRIMARY KEY, component TEXT NOT NULL, ts REAL NOT NULL, ok INTEGER NOT NULL,
        vals TEXT NOT NULL);
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

V4 = """
    CREATE TABLE maintenance_log (
        id INTEGER PRIMARY KEY, date TEXT NOT NULL, item TEXT NOT NULL, action TEXT NOT NULL,
        parts_cost REAL NOT NULL, labour_cost REAL NOT NULL, currency TEXT NOT NULL,
        note TEXT NOT NULL, recorded_at REAL NOT NULL);
"""

V5 = """
    CREATE TABLE job_runs (
        id INTEGER PRIMARY KEY, job TEXT NOT NULL, kind TEXT NOT NULL, trigger TEXT NOT NULL,
        started REAL NOT NULL, ended REAL NOT NULL, duration_s REAL NOT NULL,
        outcome TEXT NOT NULL, exit_code INTEGER, reason TEXT NOT NULL,
        reason_en TEXT NOT NULL, output_tail TEXT NOT NULL, clock_synced INTEGER NOT NULL);
    CREATE INDEX job_runs_job ON job_runs(job, started);
    CREATE TABLE power_events (
        id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
        action TEXT NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL,
        message_en TEXT NOT NULL);
"""

V6 = """
    CREATE TABLE rollups (
        id INTEGER PRIMARY KEY, device TEXT NOT NULL, period_s INTEGER NOT NULL,
        start INTEGER NOT NULL, body BLOB NOT NULL);
    CREATE UNIQUE INDEX rollups_key ON rollups(start, period_s, device);
"""

V7 = """
    CREATE TABLE commands (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, received REAL NOT NULL, expires REAL NOT NULL,
        ok INTEGER, error TEXT);
"""

MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
    V1,
    v2_sample_blocks,
    V3,
    V4,
    V5,
    V6,
    V7,
    metrics_migration.START_SQL,
]
SCHEMA_VERSION = len(MIGRATIONS)
