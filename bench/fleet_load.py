"""Ingest figures of the fleet collector: N simulated sites into PostgreSQL through mosquitto.

Each run starts its own PostgreSQL cluster (fsync on, as a server runs) and mosquitto, creates
the collectors' persistent sessions, stops the collectors, fills their sessions with a backlog
(the sites' live records and gzip history batches, with the daemon's payload format) and then
times the collectors draining it: the rate a collector sustains, without the publishers
competing for the same two cores while it is timed.

    .venv/bin/python bench/fleet_load.py --sites 1500 --windows 20 --collectors 1 2
    .venv/bin/python bench/fleet_load.py --sites 300 --history-batches 10 --windows 0
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' peers, not installed

from tests.fleet.postgres import Postgres
from tests.peers.broker import Broker

T0 = 1_764_000_000
MPPT = [
    "battery_voltage",
    "battery_current",
    "pv_voltage",
    "pv_power",
    "pv_current",
    "load_current",
    "charge_state",
    "error_code",
    "yield_today",
    "yield_total",
    "max_power_today",
    "device_temperature",
]
BMV = [
    "battery_voltage",
    "battery_current",
    "battery_power",
    "battery_soc",
    "battery_consumed_ah",
    "battery_time_to_go",
    "energy_charged_total",
    "energy_discharged_total",
    "battery_temperature",
    "alarm_state",
    "relay_state",
    "battery_midpoint_voltage",
]
DEVICES = {"mppt": MPPT, "bmv": BMV}
HISTORY_BATCH = 60


def metrics(names: list[str], rng: random.Random) -> dict[str, float]:
    return {name: round(rng.uniform(0, 60), 3) for name in names}


def compact(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def site_messages(site: int, windows: int, history_batches: int) -> list[tuple[str, bytes]]:
    """One site's backlog: `windows` live records per device, then history batches (older)."""
    rng = random.Random(site)
    out: list[tuple[str, bytes]] = []
    for device, names in DEVICES.items():
        root = f"edged/site-{site:04d}"
        for w in range(windows):
            body = {"ts": T0 + 60 * w, "metrics": metrics(names, rng), "clock": "synced"}
            out.append((f"{root}/telemetry/{device}", compact({**body, "sample_count": 60})))
        for b in range(history_batches):
            start = T0 - 86400 * 7 + 60 * HISTORY_BATCH * b
            samples = [
                {"ts": start + 60 * i, "metrics": metrics(names, rng), "clock": "synced"}
                for i in range(HISTORY_BATCH)
            ]
            body = gzip.compress(compact({"samples": samples}), mtime=0)
            out.append((f"{root}/history/{device}", body))
    return out


def publish(port: int, sites: list[int], windows: int, history_batches: int) -> None:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.max_inflight_messages_set(500)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = []
    for site in sites:
        for topic, payload in site_messages(site, windows, history_batches):
            infos.append(client.publish(topic, payload, qos=1))
    for info in infos:
        info.wait_for_publish(600)
    client.disconnect()
    client.loop_stop()


def publish_live(port: int, rate: float, stop, sent) -> None:
    """Live records at `rate` per second, `ts` = now, until `stop`: what must stay live."""
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.max_inflight_messages_set(500)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    rng = random.Random(0)
    started = time.monotonic()
    n = 0
    while not stop.is_set():
        if n < (time.monotonic() - started) * rate:
            body = {"ts": time.time(), "metrics": metrics(MPPT, rng), "clock": "synced"}
            client.publish(f"edged/live-{n % 1500:04d}/telemetry/mppt", compact(body), qos=1)
            n += 1
            sent.value = n
        else:
            time.sleep(0.005)
    client.disconnect()
    client.loop_stop()


def collector(port: int, dsn: str, slot: int, log: Path, lane: str = "all") -> subprocess.Popen:
    args = ["--broker", f"127.0.0.1:{port}", "--dsn", dsn, "--group", "bench", "--slot", str(slot)]
    args += ["--lane", lane]
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "fleet.cli", "collect", *args], stdout=out, stderr=out
        )


def scalar(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql).fetchone()
        return int(row[0]) if row and row[0] is not None else 0


def run(args: argparse.Namespace, collectors: int, work: Path) -> dict[str, float]:
    pg = Postgres(durable=True)
    broker = Broker(work, extra_conf="max_queued_messages 0\n")
    pg.start()
    broker.start()
    try:
        dsn = pg.create_database("fleet")
        lanes = lanes_for(args.lanes, collectors)
        procs = [collector(broker.port, dsn, s, work / f"{ln}{s}.log", ln) for ln, s in lanes]
        deadline = time.monotonic() + 60
        while scalar(dsn, "SELECT count(*) FROM pg_tables WHERE tablename = 'sites'") == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("collectors did not start")
            time.sleep(0.5)
        time.sleep(2)  # subscribed: the sessions now exist at the broker
        for p in procs:
            p.terminate()
            p.wait(30)
        sites = list(range(args.sites))
        jobs = [
            mp.Process(
                target=publish,
                args=(broker.port, sites[i :: args.publishers], args.windows, args.history_batches),
            )
            for i in range(args.publishers)
        ]
        for j in jobs:
            j.start()
        for j in jobs:
            j.join()
        devices = len(DEVICES)
        messages = args.sites * devices * (args.windows + args.history_batches)
        records = args.sites * devices * (args.windows + args.history_batches * HISTORY_BATCH)
        stop, sent = mp.Event(), mp.Value("i", 0)
        live = mp.Process(target=publish_live, args=(broker.port, args.live_rate, stop, sent))
        if args.live_rate:
            live.start()
        started = time.monotonic()
        procs = [collector(broker.port, dsn, s, work / f"{ln}{s}.log", ln) for ln, s in lanes]
        # the backlog's records (live ones keep coming meanwhile: they are not waited for)
        done_sql = "SELECT count(*) FROM records WHERE site NOT LIKE 'live-%'"
        while scalar(dsn, done_sql) < records:
            if time.monotonic() - started > args.timeout:
                raise RuntimeError(f"only {scalar(dsn, done_sql)} of {records} records")
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        stop.set()
        if args.live_rate:
            live.join(30)
        live_sql = "SELECT count(*) FROM records WHERE site LIKE 'live-%'"
        while scalar(dsn, live_sql) < sent.value:  # the last live records
            time.sleep(0.2)
        for p in procs:
            p.terminate()
            p.wait(30)
        messages_in_drain = messages  # the live ones are measured by their lag, not counted
        lag = lag_seconds(dsn) if args.live_rate else {}
        stored = scalar(dsn, "SELECT count(*) FROM records WHERE site NOT LIKE 'live-%'")
        size = scalar(
            dsn,
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
            " WHERE inhparent = 'records'::regclass",
        )
        return {
            "collectors": collectors,
            "lanes": args.lanes,
            "messages": messages_in_drain,
            "records": stored,
            "expected_records": records,
            "seconds": round(elapsed, 1),
            "messages_per_s": round(messages / elapsed),
            "records_per_s": round(stored / elapsed),
            "values_per_s": round(stored * len(MPPT) / elapsed),
            "bytes_per_record": round(size / max(stored + sent.value, 1)),
            **lag,
        }
    finally:
        broker.stop()
        pg.destroy()


def lanes_for(mode: str, collectors: int) -> list[tuple[str, int]]:
    """`all`: every slot takes every topic; `split`: one live slot, the others history."""
    if mode == "all":
        return [("all", s) for s in range(1, collectors + 1)]
    return [("live", 1)] + [("history", s) for s in range(1, collectors + 1)]


def lag_seconds(dsn: str) -> dict[str, float]:
    """Live records: from their `ts` (the moment published) to the collector receiving them."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*), percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY lag),"
            " max(lag) FROM (SELECT extract(epoch FROM received_at - ts) AS lag FROM records"
            " WHERE site LIKE 'live-%%') AS l"
        ).fetchone()
    count, (p50, p95), worst = row[0], row[1] or (0, 0), row[2] or 0
    return {
        "live_records": count,
        "live_lag_p50_s": round(p50, 2),
        "live_lag_p95_s": round(p95, 2),
        "live_lag_max_s": round(float(worst), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=1500)
    parser.add_argument("--windows", type=int, default=20, help="live records per device")
    parser.add_argument("--history-batches", type=int, default=0, help="per device, 60 records")
    parser.add_argument("--collectors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument(
        "--lanes", choices=["all", "split"], default="all", help="split: one more, live, slot"
    )
    parser.add_argument(
        "--live-rate", type=float, default=0, help="live records/s published during the drain"
    )
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    for n in args.collectors:
        with tempfile.TemporaryDirectory(prefix="fleet-load-") as work:
            print(json.dumps(run(args, n, Path(work))), flush=True)


if __name__ == "__main__":
    main()
