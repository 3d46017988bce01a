"""Make docs/fleet-overview.png and docs/fleet-site.png from a real run, not by hand.

PostgreSQL, mosquitto, `edged-fleet collect` and `edged-fleet web` as in the tests; six simulated
sites publish a week of one-minute records (as gzip history batches, with a 9-hour outage on one
site that stays a gap), device states, health (one component whose round never came: unknown),
alarms, a backup run and a monthly report, all in the daemon's payload format; one site then
goes silent. Headless Chromium logs in and takes the two screenshots.

    .venv/bin/python bench/dashboard_screenshots.py
"""

from __future__ import annotations

import gzip
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

from selenium.webdriver.common.by import By

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' peers, not installed

from tests.fleet.conftest import BROKER_CONF, CollectorProcess
from tests.fleet.postgres import Postgres
from tests.fleet.publisher import Publisher
from tests.fleet.web import WebServer, add_user, browser, fleet_cli
from tests.peers.broker import Broker
from tests.peers.replay import wait_until

DOCS = Path(__file__).resolve().parent.parent / "docs"
SITES = [
    ("kati", "CSCOM Kati", "Koulikoro"),
    ("siby", "CSCOM Siby", "Koulikoro"),
    ("bougouni", "CSCOM Bougouni", "Sikasso"),
    ("koutiala", "CSCOM Koutiala", "Sikasso"),
    ("san", "CSCOM San", "Ségou"),
    ("djenne", "CSCOM Djenné", "Mopti"),
]


def compact(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def week(site_no: int, now: int, outage: bool) -> list[tuple[str, bytes]]:
    """Seven days of records for a BMV and an MPPT, as gzip history batches of 500."""
    rng = random.Random(site_no)
    samples: dict[str, list[dict]] = {"bmv": [], "mppt": []}
    start = now - 7 * 86400
    soc = 70.0
    for ts in range(start, now, 60):
        if outage and start + 3 * 86400 <= ts < start + 3 * 86400 + 9 * 3600:
            continue  # the site's store lost these (a long power cut): a gap for ever
        hour = (ts % 86400) / 3600
        sun = max(0.0, math.sin((hour - 6.5) / 12 * math.pi)) * (0.6 + 0.4 * rng.random())
        pv = 380 * sun
        load = 90 + 40 * rng.random() + (60 if 8 <= hour < 17 else 0)
        soc = min(100.0, max(15.0, soc + (pv - load) / 1200 * 100 / 60 / 10))
        volts = 12.1 + soc / 100 * 1.3 + (0.4 if pv > load else 0)
        samples["bmv"].append(
            {
                "ts": ts,
                "metrics": {
                    "battery_soc": round(soc, 1),
                    "battery_voltage": round(volts, 2),
                    "battery_current": round((pv - load) / volts, 2),
                },
                "clock": "synced",
            }
        )
        samples["mppt"].append(
            {
                "ts": ts,
                "metrics": {"pv_power": round(pv, 1), "load_power": round(load, 1)},
                "clock": "synced",
            }
        )
    messages = []
    for device, rows in samples.items():
        for i in range(0, len(rows), 500):
            body = gzip.compress(compact({"samples": rows[i : i + 500]}), mtime=0)
            messages.append((f"edged/{SITES[site_no][0]}/history/{device}", body))
    return messages


def retained(site: str, now: int, n: int) -> list[tuple[str, bytes]]:
    out = [(f"edged/{site}/status", b"online")]
    for device, product in (("bmv", "BMV-712 Smart"), ("mppt", "SmartSolar MPPT 100/20")):
        body = {"state": "ok", "last_seen": now, "product": product, "firmware": "v4.08"}
        out.append((f"edged/{site}/device/{device}", compact(body)))
    run = {
        "job": "backup-openclinic",
        "kind": "backup",
        "started": now - 9 * 3600,
        "ended": now - 9 * 3600 + 250,
        "duration_s": 250,
        "outcome": "failed" if n == 2 else "success",
        "exit_code": 1 if n == 2 else 0,
    }
    out.append(
        (
            f"edged/{site}/job/backup-openclinic",
            compact({"job": "backup-openclinic", "kind": "backup", "state": "idle", "last": run}),
        )
    )
    report = {  # the daemon's summary (maintenance/report/mqtt_summary.py)
        "site": site,
        "month": "2026-11",
        "completeness_pct": 97.5,
        "notes": [],
        "pv_kwh": 41.2,
        "load_kwh": 36.8,
        "days_not_full": 2 + n,
        "efc": 17.9,
        "soc_min": 24 + n,
        "alarms": 3,
        "alarms_open": 1 if n in (0, 3) else 0,
        "contribution": 15000,
        "currency": "XOF",
        "cost_recovery_pct": 55.0 + 5 * n,
    }
    out.append((f"edged/{site}/report/2026-11", compact(report)))
    if n in (0, 3):
        alarm = {
            "active": True,
            "severity": "critical" if n == 0 else "warning",
            "since": now - (5 if n == 0 else 30) * 3600,
            "rule": "battery_soc_low",
            "subject": "bmv",
            "message": "Batterie faible : délestage probable",
            "message_en": "Battery low: load shedding likely",
            "value": 18,
        }
        out.append((f"edged/{site}/alarm/battery_soc_low.bmv", compact(alarm)))
    return out


def live(site: str, now: int) -> list[tuple[str, bytes]]:
    out = []
    for component, ok in (("pibox", True), ("openclinic", n_ok(site)), ("uplink", True)):
        values = {"budget_used_percent": 41.0} if component == "uplink" else {}
        body = {"ts": now, "ok": ok, "detail": "" if ok else "HTTP 502", "values": values}
        out.append((f"edged/{site}/health/{component}", compact(body)))
    return out


def n_ok(site: str) -> bool:
    return site != "bougouni"


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="edged-screens-"))
    pg = Postgres()
    pg.start()
    broker = Broker(work, extra_conf=BROKER_CONF)
    broker.start()
    collector = web = driver = None
    try:
        dsn = pg.create_database("screens")
        collector = CollectorProcess(
            ["--broker", f"{broker.host}:{broker.port}", "--dsn", dsn, "--group", "shots"],
            work / "collector.log",
        ).start()
        wait_until(lambda: "subscribed to" in collector.logs(), 60, what="collector subscribed")
        for site, name, region in SITES:
            fleet_cli("site", site, "--name", name, "--region", region, "--dsn", dsn)
        add_user(dsn, "adama", "screenshot-password")
        pub = Publisher(broker.host, broker.port)
        now = int(time.time()) // 60 * 60
        for n, (site, _, _) in enumerate(SITES):
            pub.publish(week(n, now, outage=n == 0), timeout=120)
            pub.publish(retained(site, now, n), retain=True)
            pub.publish(live(site, now))
        time.sleep(2)
        pub.publish([("edged/djenne/status", b"offline")], retain=True)  # its link drops
        web = WebServer(
            dsn,
            (broker.host, broker.port),
            work / "web.log",
            "--silent-after",
            "20",
            "--watch-interval",
            "2",
        )
        # every site but Djenné keeps talking; Djenné goes silent and gets the centre's alarm
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            pub.publish([m for s, _, _ in SITES[:-1] for m in live(s, int(time.time()))])
            time.sleep(5)
        driver = browser(work / "profile")
        driver.set_window_size(1150, 620)
        driver.get(web.url + "/login")
        driver.find_element(By.ID, "username").send_keys("adama")
        driver.find_element(By.ID, "password").send_keys("screenshot-password")
        driver.find_element(By.ID, "login-button").click()
        wait_until(lambda: driver.find_elements(By.ID, "overview"), 30, what="overview")
        driver.save_screenshot(str(DOCS / "fleet-overview.png"))
        driver.set_window_size(1000, 1300)
        driver.get(web.url + "/site/kati")
        wait_until(
            lambda: driver.find_element(By.ID, "charts").get_attribute("data-drawn"),
            30,
            what="charts",
        )
        # the whole page: health (one component unknown), alarms, backups, monthly summaries
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1000, min(4000, height + 140))
        driver.save_screenshot(str(DOCS / "fleet-site.png"))
        pub.close()
        print(f"wrote {DOCS / 'fleet-overview.png'} and {DOCS / 'fleet-site.png'}")
    finally:
        if driver is not None:
            driver.quit()
        if web is not None:
            web.stop()
        if collector is not None and collector.alive():
            collector.terminate()
        broker.stop()
        pg.destroy()


if __name__ == "__main__":
    main()
