"""Fleet overview render time with N sites: served time (p50/p95) of `edged-fleet web`'s `/`.

Starts its own PostgreSQL cluster (fsync on) and fills it server-side (generate_series) with
what the overview reads, for N sites (1,500: Mali's CSCOM count) and a year: `sites` and
`site_info` (10 regions), two devices each in `site_latest`, 365 days of `device_daily` per
device, one backup run a day for a year in `job_results`, uplink and pibox health rounds every
hour for 30 days, 30 alarm raises and clears a year per site in `alarm_history` and ~6 % of sites
with active alarms (some critical), ~3 % silent. The records' time series is not filled: the
overview never reads it, which the bench checks on the query plan (EXPLAIN) before timing.

Then it starts `edged-fleet web` (waitress, 4 threads), logs in, and times `--requests`
sequential GETs of `/` from another process on loopback (gzip accepted, as a browser does), and
the same with `--concurrency` clients at once.

    .venv/bin/python bench/fleet_overview.py --sites 1500 --requests 100 --concurrency 4
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' peers, not installed

from fleet import accounts
from fleet.queries import OVERVIEW_SQL, Filters, overview
from fleet.schema import migrate
from tests.fleet.postgres import Postgres
from tests.fleet.web import Client
from tests.peers.broker import free_port

REGIONS = [
    "Kayes",
    "Koulikoro",
    "Sikasso",
    "Ségou",
    "Mopti",
    "Tombouctou",
    "Gao",
    "Kidal",
    "Bamako",
    "Taoudénit",
]

FILL = """
INSERT INTO sites (site, status, status_at, first_seen, last_seen)
SELECT format('cscom-%%s', lpad(i::text, 4, '0')), 'online', now() - interval '3 days',
    now() - interval '1 year',
    CASE WHEN i %% 33 = 0 THEN now() - (i %% 7 + 1) * interval '1 hour'
        ELSE now() - (i %% 50) * interval '1 second' END
FROM generate_series(1, %(n)s) i;

INSERT INTO site_info (site, name, region)
SELECT format('cscom-%%s', lpad(i::text, 4, '0')), format('CSCOM %%s', i),
    (%(regions)s::text[])[1 + i %% 10]
FROM generate_series(1, %(n)s) i;

INSERT INTO site_latest (site, device, ts, metrics, synced, received_at)
SELECT s.site, d.device, s.last_seen, CASE d.device
    WHEN 'bmv' THEN jsonb_build_object('battery_soc', 40 + random() * 60,
        'battery_voltage', 12 + random(), 'battery_current', random() * 10 - 5)
    ELSE jsonb_build_object('pv_power', random() * 400, 'battery_voltage', 12 + random()) END,
    true, s.last_seen
FROM sites s CROSS JOIN (VALUES ('bmv'), ('mppt')) d(device);

INSERT INTO device_daily (site, device, day, records, pv_power_sum, pv_n, soc_sum, soc_n)
SELECT s.site, d.device, current_date - k, 1300 + (random() * 140)::int,
    CASE WHEN d.device = 'mppt' THEN 1440 * random() * 150 ELSE 0 END,
    CASE WHEN d.device = 'mppt' THEN 1440 ELSE 0 END,
    CASE WHEN d.device = 'bmv' THEN 1440 * (50 + random() * 40) ELSE 0 END,
    CASE WHEN d.device = 'bmv' THEN 1440 ELSE 0 END
FROM sites s CROSS JOIN (VALUES ('bmv'), ('mppt')) d(device) CROSS JOIN generate_series(0, 364) k;

INSERT INTO job_results (site, job, started, ended, outcome, exit_code, duration_s, payload)
SELECT s.site, 'backup-openclinic', current_date - k + interval '13 hours',
    current_date - k + interval '13 hours 4 minutes',
    CASE WHEN random() < 0.05 THEN 'failed' ELSE 'success' END, 0, 240,
    '{"kind":"backup"}'::jsonb
FROM sites s CROSS JOIN generate_series(1, 365) k;

INSERT INTO health (site, component, ts, ok, detail, "values")
SELECT s.site, c.component, now() - k * interval '1 hour', true, '',
    jsonb_build_object('budget_used_percent', random() * 100)
FROM sites s CROSS JOIN (VALUES ('uplink'), ('pibox')) c(component)
CROSS JOIN generate_series(0, 30 * 24 - 1) k;

INSERT INTO alarm_history (site, alarm_id, active, at, payload)
SELECT s.site, 'battery_soc_low.bmv', a.active, now() - k * interval '12 days' + a.shift,
    '{"severity":"warning"}'::jsonb
FROM sites s CROSS JOIN generate_series(1, 30) k
CROSS JOIN (VALUES (true, interval '0'), (false, interval '5 hours')) a(active, shift);

INSERT INTO alarms (site, alarm_id, active, at, severity, since, rule, subject, message,
    message_en, payload)
SELECT site, 'battery_soc_low.bmv', true, now() - interval '2 hours',
    CASE WHEN row_number() OVER () %% 3 = 0 THEN 'critical' ELSE 'warning' END,
    now() - interval '2 hours', 'battery_soc_low', 'bmv', 'Batterie faible', 'Battery low', '{}'
FROM sites WHERE hashtext(site) %% 16 = 0;
"""


def fill(dsn: str, sites: int) -> dict[str, int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn)
        for statement in FILL.split(";\n\n"):
            conn.execute(statement, {"n": sites, "regions": REGIONS})
        conn.execute("VACUUM ANALYZE")
        accounts.add_user(conn, "bench", "bench-password-123")
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN " + OVERVIEW_SQL,
                {
                    "today": datetime.now(UTC).date(),
                    "record_s": 60,
                    "silent": timedelta(seconds=240),
                    "region": None,
                },
            )
        )
        assert "records" not in plan.replace("records_7d", ""), plan
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("sites", "device_daily", "job_results", "health", "alarm_history")
        }
        conn.execute("SET jit = off")  # as `edged-fleet web` does on its connections
        query_s = []
        for _ in range(10):
            t = time.perf_counter()
            overview(conn, Filters(), datetime.now(UTC).date(), 240)
            query_s.append(time.perf_counter() - t)
        counts["query_p50_s"] = round(statistics.median(query_s), 3)
        counts["db_mb"] = conn.execute("SELECT pg_database_size(current_database())").fetchone()[
            0
        ] // (1 << 20)
    return counts


def timed_gets(url: str, cookie: str, n: int) -> tuple[list[float], int, int]:
    times: list[float] = []
    raw = zipped = 0
    for _ in range(n):
        req = urllib.request.Request(url, headers={"Cookie": cookie, "Accept-Encoding": "gzip"})
        start = time.perf_counter()
        with urllib.request.urlopen(req, timeout=60) as resp:
            body = resp.read()
            assert resp.status == 200
        times.append(time.perf_counter() - start)
        zipped = len(body)
        raw = len(gzip.decompress(body)) if resp.headers.get("Content-Encoding") else len(body)
    return times, raw, zipped


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=1500)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    pg = Postgres(durable=True)
    pg.start()
    work = Path(tempfile.mkdtemp(prefix="edged-bench-overview-"))
    web = None
    try:
        dsn = pg.create_database("bench")
        t = time.monotonic()
        counts = fill(dsn, args.sites)
        fill_s = time.monotonic() - t
        port = free_port()
        log = (work / "web.log").open("wb")
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fleet.cli",
                "web",
                "--dsn",
                dsn,
                "--listen",
                f"127.0.0.1:{port}",
                "--broker",
                f"127.0.0.1:{free_port()}",
            ],
            stdout=log,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/login", timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        client = Client(base)
        assert client.login("bench", "bench-password-123").status == 302
        cookie = "; ".join(f"{c.name}={c.value}" for c in client.jar)
        timed_gets(base + "/", cookie, 3)  # warm the connection pool and PostgreSQL's cache
        seq, raw, zipped = timed_gets(base + "/", cookie, args.requests)
        conc: list[float] = []
        lock = threading.Lock()

        def worker() -> None:
            got, _, _ = timed_gets(base + "/", cookie, max(1, args.requests // args.concurrency))
            with lock:
                conc.extend(got)

        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        result = {
            "sites": args.sites,
            "fill_s": round(fill_s, 1),
            **counts,
            "html_bytes": raw,
            "gzip_bytes": zipped,
            "sequential_p50_s": round(pct(seq, 50), 3),
            "sequential_p95_s": round(pct(seq, 95), 3),
            f"concurrent{args.concurrency}_p50_s": round(pct(conc, 50), 3),
            f"concurrent{args.concurrency}_p95_s": round(pct(conc, 95), 3),
            # a 3G-class client: 1 Mbit/s down, 300 ms round trip (TCP handshake + request)
            "3g_estimate_p95_s": round(pct(seq, 95) + zipped * 8 / 1e6 + 2 * 0.3, 2),
            # the machine is shared: what else ran while it measured
            "loadavg_1min_end": os.getloadavg()[0],
        }
        print(json.dumps(result, indent=1))
    finally:
        if web is not None:
            web.terminate()
            web.wait(10)
        pg.destroy()


if __name__ == "__main__":
    main()
