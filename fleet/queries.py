"""What the dashboard reads: every SQL statement of `edged-fleet web`, as typed rows.

The overview reads only small tables (`sites`, `site_info`, `site_latest`, active alarms,
`device_daily` for 8 days, the newest uplink health and backup run of each site by index), never
the records' time series, so it costs the same with a year of data as with a day. Site charts
read one site's records for 7 or 30 days, averaged into fixed buckets; a bucket without a record
is null, which the chart draws as a gap.

Figures resting on the one-minute publish interval (the daemon's default) say so: completeness is
records received over one record per device per minute, PV energy is the records' mean PV power
times one minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

RECORD_S = 60  # the daemon's default publish interval: one record per device per minute


@dataclass(frozen=True)
class Filters:
    region: str | None = None


OVERVIEW_SQL = """
WITH latest_battery AS (
    SELECT DISTINCT ON (site) site,
        CASE WHEN jsonb_typeof(metrics->'battery_soc') = 'number'
            THEN (metrics->>'battery_soc')::float8 END AS soc,
        CASE WHEN jsonb_typeof(metrics->'battery_voltage') = 'number'
            THEN (metrics->>'battery_voltage')::float8 END AS voltage
    FROM site_latest WHERE metrics ? 'battery_soc' OR metrics ? 'battery_voltage'
    ORDER BY site, (metrics ? 'battery_soc') DESC, ts DESC
), per_day AS (
    SELECT site, day, sum(records) AS records, count(*) AS devices,
        sum(pv_power_sum) * %(record_s)s / 3600.0 AS pv_wh,
        sum(soc_sum) / nullif(sum(soc_n), 0) AS soc_mean
    FROM device_daily WHERE day >= %(today)s::date - 7 GROUP BY site, day
), daily AS (
    SELECT site,
        (sum(records) FILTER (WHERE day > %(today)s::date - 7))::float8 AS records_7d,
        max(devices)::int AS devices,
        max(pv_wh) FILTER (WHERE day = %(today)s::date) AS pv_today_wh,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY pv_wh) FILTER (WHERE day < %(today)s::date)
            AS pv_usual_wh,
        max(soc_mean) FILTER (WHERE day = %(today)s::date) AS soc_today,
        max(soc_mean) FILTER (WHERE day = %(today)s::date - 1) AS soc_yesterday
    FROM per_day GROUP BY site
), active AS (
    SELECT site, count(*) AS alarms, count(*) FILTER (WHERE severity = 'critical') AS critical,
        min(since) AS oldest
    FROM alarms WHERE active GROUP BY site
)
SELECT s.site, coalesce(i.name, s.site) AS name, i.region, s.status, s.status_at, s.last_seen,
    s.last_seen < now() - %(silent)s AS silent,
    b.soc, b.voltage, d.soc_today, d.soc_yesterday, d.pv_today_wh, d.pv_usual_wh,
    d.records_7d, d.devices,
    coalesce(a.alarms, 0) AS alarms, coalesce(a.critical, 0) AS critical, a.oldest,
    up.budget_used, up.ts AS uplink_ts, bk.outcome AS backup_outcome, bk.ended AS backup_ended,
    bk.started AS backup_started
FROM sites s
LEFT JOIN site_info i USING (site)
LEFT JOIN latest_battery b USING (site)
LEFT JOIN daily d USING (site)
LEFT JOIN active a USING (site)
LEFT JOIN LATERAL (
    SELECT CASE WHEN jsonb_typeof(h."values"->'budget_used_percent') = 'number'
        THEN (h."values"->>'budget_used_percent')::float8 END AS budget_used, h.ts
    FROM health h WHERE h.site = s.site AND h.component = 'uplink' ORDER BY h.ts DESC LIMIT 1
) up ON true
LEFT JOIN LATERAL (
    SELECT r.outcome, r.ended, r.started FROM job_results r
    WHERE r.site = s.site AND r.payload->>'kind' = 'backup' ORDER BY r.started DESC LIMIT 1
) bk ON true
WHERE %(region)s::text IS NULL OR i.region = %(region)s
ORDER BY (a.critical > 0) DESC NULLS LAST, (a.alarms > 0) DESC NULLS LAST, a.oldest ASC,
    (s.last_seen < now() - %(silent)s) DESC, s.last_seen ASC, s.site
"""


def overview(
    conn: psycopg.Connection, filters: Filters, today: Any, silent_after_s: float
) -> list[dict[str, Any]]:
    """Every site, the most troubled first (VRM's order): critical alarms, then other alarms
    (oldest first), then silent sites (longest first), then the rest by name."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            OVERVIEW_SQL,
            {
                "today": today,
                "record_s": RECORD_S,
                "silent": timedelta(seconds=silent_after_s),
                "region": filters.region,
            },
        )
        rows = cur.fetchall()
    for row in rows:
        expected = (row["devices"] or 0) * 7 * 86400 / RECORD_S
        row["completeness"] = min(1.0, row["records_7d"] / expected) if expected else None
    return rows


def regions(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT DISTINCT region FROM site_info WHERE region IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def _dicts(conn: psycopg.Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def site(conn: psycopg.Connection, site_id: str) -> dict[str, Any] | None:
    rows = _dicts(
        conn,
        "SELECT s.*, coalesce(i.name, s.site) AS name, i.region, i.cmd_key IS NOT NULL AS signed"
        " FROM sites s LEFT JOIN site_info i USING (site) WHERE s.site = %(site)s",
        {"site": site_id},
    )
    return rows[0] if rows else None


def command_key(conn: psycopg.Connection, site_id: str) -> str | None:
    """The site's HMAC key for signed commands (`edged-fleet site --cmd-key`), or None."""
    row = conn.execute("SELECT cmd_key FROM site_info WHERE site = %s", (site_id,)).fetchone()
    return row[0] if row else None


def site_details(conn: psycopg.Connection, site_id: str) -> dict[str, list[dict[str, Any]]]:
    p = {"site": site_id}
    return {
        "devices": _dicts(
            conn,
            "SELECT d.device, d.state, d.last_seen, d.product, d.serial, d.firmware,"
            " l.ts AS record_ts, l.received_at AS record_received"
            " FROM devices d FULL JOIN (SELECT * FROM site_latest WHERE site = %(site)s) l"
            " USING (site, device) WHERE coalesce(d.site, l.site) = %(site)s ORDER BY 1",
            p,
        ),
        "health": _dicts(
            conn,
            "SELECT DISTINCT ON (component) component, ts, ok, detail, received_at"
            " FROM health WHERE site = %(site)s ORDER BY component, ts DESC",
            p,
        ),
        "alarms": alarm_list(conn, site_id=site_id, limit=100),
        "history": _dicts(
            conn,
            "SELECT alarm_id, active, at, payload->>'severity' AS severity,"
            " payload->>'message' AS message, payload->>'message_en' AS message_en"
            " FROM alarm_history WHERE site = %(site)s ORDER BY at DESC LIMIT 50",
            p,
        ),
        "jobs": _dicts(
            conn,
            "SELECT job, kind, state, progress, updated_at FROM jobs WHERE site = %(site)s"
            " ORDER BY job",
            p,
        ),
        "runs": _dicts(
            conn,
            "SELECT job, started, ended, outcome, exit_code, duration_s FROM job_results"
            " WHERE site = %(site)s ORDER BY started DESC LIMIT 20",
            p,
        ),
        "reports": _dicts(
            conn,
            "SELECT month, summary FROM reports WHERE site = %(site)s ORDER BY month DESC LIMIT 12",
            p,
        ),
        "shedding": _dicts(
            conn, "SELECT level, since, code FROM shedding WHERE site = %(site)s", p
        ),
    }


SERIES_METRICS = ("battery_soc", "battery_voltage", "battery_current", "pv_power", "load_power")
# summed over devices (two MPPTs make one PV figure); the battery metrics are averaged
SUMMED = ("pv_power", "load_power")


def series(
    conn: psycopg.Connection, site_id: str, days: int, now: datetime
) -> dict[str, list[Any]]:
    """One site's metrics over `days` days in fixed buckets (15 min for 7 days, 1 h beyond),
    every bucket present, null where no record fell: a gap stays a gap."""
    bucket = 900 if days <= 7 else 3600
    end = int(now.timestamp()) // bucket * bucket + bucket
    start = end - days * 86400
    per_device = ", ".join(
        f"avg(CASE WHEN jsonb_typeof(metrics->'{m}') = 'number'"
        f" THEN (metrics->>'{m}')::float8 END) AS {m}"
        for m in SERIES_METRICS
    )
    per_bucket = ", ".join(
        f"round(({'sum' if m in SUMMED else 'avg'}({m}))::numeric, 2)::float8 AS {m}"
        for m in SERIES_METRICS
    )
    sql = f"""
        WITH dev AS (
            SELECT floor(extract(epoch FROM ts) / %(bucket)s)::bigint * %(bucket)s AS t,
                device, {per_device}
            FROM records WHERE site = %(site)s AND ts >= to_timestamp(%(start)s)
                AND ts < to_timestamp(%(end)s)
            GROUP BY 1, 2
        ), b AS (SELECT t, {per_bucket} FROM dev GROUP BY t)
        SELECT g.t, {", ".join(f"b.{m}" for m in SERIES_METRICS)}
        FROM generate_series(%(start)s::bigint, %(end)s::bigint - %(bucket)s, %(bucket)s) g(t)
        LEFT JOIN b USING (t) ORDER BY g.t
    """
    rows = conn.execute(sql, {"site": site_id, "start": start, "end": end, "bucket": bucket})
    out: dict[str, list[Any]] = {"t": [], **{m: [] for m in SERIES_METRICS}}
    for row in rows:
        out["t"].append(row[0])
        for i, m in enumerate(SERIES_METRICS, start=1):
            out[m].append(row[i])
    return out


def alarm_list(
    conn: psycopg.Connection,
    *,
    site_id: str | None = None,
    unacked_only: bool = False,
    include_cleared: bool = True,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Alarms with their acknowledgement: active first, then critical, then the oldest.

    `ack_state`: none, `local` (a centre alarm, or no command sent), `pending` (sent, the site
    has not confirmed), `confirmed` (its result said ok, or its retained alarm says
    acknowledged), `refused` (its result said not ok).
    """
    return _dicts(
        conn,
        """
        SELECT a.site, coalesce(i.name, a.site) AS name, i.region, a.alarm_id, a.active,
            a.severity, a.since, a.cleared, a.message, a.message_en, a.rule, a.subject,
            a.origin, k.by_user AS ack_by, k.at AS ack_at, k.comment AS ack_comment,
            k.send_error AS ack_error,
            CASE WHEN k.site IS NULL THEN NULL
                WHEN r.ok THEN 'confirmed'
                WHEN r.ok = false THEN 'refused'
                WHEN coalesce(a.payload->'ack', a.payload->'acked', a.payload->'acknowledged')
                    NOT IN ('null'::jsonb, 'false'::jsonb) THEN 'confirmed'
                WHEN k.command_id IS NULL THEN 'local'
                ELSE 'pending' END AS ack_state,
            r.payload->>'error' AS ack_result_error,
            r.payload->>'message' AS ack_result_message,
            r.payload->>'message_en' AS ack_result_message_en,
            v.visited_on, v.visit_by, v.visit_note
        FROM alarms a
        LEFT JOIN site_info i USING (site)
        LEFT JOIN alarm_acks k ON k.site = a.site AND k.alarm_id = a.alarm_id
            AND k.since = a.since
        LEFT JOIN command_results r ON r.site = k.site AND r.name = 'alarm_ack'
            AND r.id = k.command_id
        LEFT JOIN LATERAL (
            SELECT visited_on, by_user AS visit_by, note AS visit_note FROM alarm_visits w
            WHERE w.site = a.site AND w.alarm_id = a.alarm_id AND w.since = a.since
            ORDER BY visited_on LIMIT 1
        ) v ON true
        WHERE (%(site)s::text IS NULL OR a.site = %(site)s)
            AND (%(cleared)s OR a.active)
            AND (NOT %(unacked)s OR (a.active AND k.site IS NULL))
        ORDER BY a.active DESC, (a.severity = 'critical') DESC, a.since ASC NULLS LAST
        LIMIT %(limit)s
        """,
        {
            "site": site_id,
            "unacked": unacked_only,
            "cleared": include_cleared and not unacked_only,
            "limit": limit,
        },
    )


def alarm_counts(conn: psycopg.Connection, days: int = 30) -> dict[str, int]:
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE payload->>'severity' = 'critical'),"
        " count(DISTINCT site) FROM alarm_history WHERE active AND at >= now() - %s",
        (timedelta(days=days),),
    ).fetchone()
    active = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE k.site IS NULL) FROM alarms a"
        " LEFT JOIN alarm_acks k ON k.site = a.site AND k.alarm_id = a.alarm_id"
        " AND k.since = a.since WHERE a.active"
    ).fetchone()
    assert row is not None and active is not None
    return {
        "raised": row[0],
        "critical": row[1],
        "sites": row[2],
        "active": active[0],
        "unacked": active[1],
    }


def alarm_for_ack(conn: psycopg.Connection, site_id: str, alarm_id: str) -> dict[str, Any] | None:
    rows = _dicts(
        conn,
        "SELECT a.site, a.alarm_id, a.active, a.since, a.origin, i.cmd_key FROM alarms a"
        " LEFT JOIN site_info i USING (site) WHERE a.site = %(site)s AND a.alarm_id = %(alarm)s",
        {"site": site_id, "alarm": alarm_id},
    )
    return rows[0] if rows else None


def record_ack(
    conn: psycopg.Connection,
    alarm: dict[str, Any],
    by: str,
    comment: str,
    command_id: str | None,
    send_error: str | None,
) -> bool:
    """False if this raise of the alarm was already acknowledged (the first one stands)."""
    cur = conn.execute(
        "INSERT INTO alarm_acks (site, alarm_id, since, by_user, comment, command_id, send_error)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (alarm["site"], alarm["alarm_id"], alarm["since"], by, comment, command_id, send_error),
    )
    return cur.rowcount == 1


RESOLVE_SQL = """
WITH raises AS (
    SELECT r.site,
        CASE WHEN c.at IS NOT NULL AND (x.at IS NULL OR c.at <= x.at)
            THEN extract(epoch FROM c.at - r.at)::float8 END AS clear_s,
        (SELECT min(w.visited_on) - (r.at AT TIME ZONE 'UTC')::date FROM alarm_visits w
            WHERE w.site = r.site AND w.alarm_id = r.alarm_id AND w.since = r.at) AS visit_days
    FROM alarm_history r
    LEFT JOIN LATERAL (
        SELECT min(n.at) AS at FROM alarm_history n
        WHERE n.site = r.site AND n.alarm_id = r.alarm_id AND NOT n.active AND n.at >= r.at
    ) c ON true
    LEFT JOIN LATERAL (
        SELECT min(n.at) AS at FROM alarm_history n
        WHERE n.site = r.site AND n.alarm_id = r.alarm_id AND n.active AND n.at > r.at
    ) x ON true
    WHERE r.active AND r.at >= now() - %(window)s
        AND (%(site)s::text IS NULL OR r.site = %(site)s)
)
SELECT {key} AS key, count(*) AS raised, count(clear_s) AS cleared,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY clear_s) AS median_s, max(clear_s) AS max_s,
    count(visit_days) AS visited,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY visit_days) AS median_visit_days
FROM raises LEFT JOIN site_info i USING (site)
GROUP BY 1 ORDER BY median_s DESC NULLS LAST, 1
"""


def time_to_clear(
    conn: psycopg.Connection, *, by: str = "region", site_id: str | None = None, days: int = 30
) -> list[dict[str, Any]]:
    """How long alarms raised in the last `days` days stayed active, per region or per site.

    A raise is paired with the first clear of the same alarm after it, unless the alarm was
    raised again before that clear (then this raise has no clear of its own). `median_s` and
    `max_s` cover the cleared raises; `raised - cleared` are still active. The centre's no-data
    alarms count too: their time to clear is how long a site stayed silent. Each lookup of a
    clear or a next raise is one probe of `alarm_history`'s primary key
    `(site, alarm_id, active, at)`; the raises come from its partial index on `at`.
    `visited` counts the raises with a technician's visit logged, `median_visit_days` the days
    from the raise to the first visit (UTC dates).
    """
    key = {"region": "i.region", "site": "site"}[by]
    return _dicts(
        conn,
        RESOLVE_SQL.format(key=key),
        {"window": timedelta(days=days), "site": site_id},
    )


def record_visit(
    conn: psycopg.Connection, alarm: dict[str, Any], visited_on: Any, by: str, note: str
) -> bool:
    """A visit for the alarm's current raise; False if that day's visit is already logged."""
    cur = conn.execute(
        "INSERT INTO alarm_visits (site, alarm_id, since, visited_on, by_user, note)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (alarm["site"], alarm["alarm_id"], alarm["since"], visited_on, by, note),
    )
    return cur.rowcount == 1
