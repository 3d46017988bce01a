"""All real, end to end: a VE.Direct MPPT on a pty -> `edged run` -> mosquitto -> `edged-fleet
collect` -> PostgreSQL. What the site stored is what the centre holds, once, across an uplink
outage whose records come back as gzip history."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from drivers.victron.vedirect.emulator import PtyEmulator
from tests.fleet.link import Link
from tests.fleet.test_collect import counter, started, wait_subscribed
from tests.peers.daemon import db_rows, write_config
from tests.peers.replay import wait_until

PREFIX = "edged"


def site_keys(db_path: Path) -> set[tuple[str, float]]:
    return {(d, ts) for d, ts in db_rows(db_path, "SELECT device, ts FROM records")}


def central_keys(db) -> set[tuple[str, float]]:
    rows = db("SELECT device, ts FROM records WHERE site = 'test-site'")
    return {(d, ts.timestamp()) for d, ts in rows}


@pytest.mark.parametrize("form", ["json", "compact"])
def test_the_real_daemon_through_an_outage_lands_every_record_once(
    tmp_path, central, collectors, daemons, db, form
):
    """Both record forms ([telemetry] payload), live and as gzip history after the outage."""
    c = started(collectors, db)
    wait_subscribed(c)
    link = Link(central.host, central.port).start()
    emulator = PtyEmulator("mppt", link=str(tmp_path / "tty-mppt"), interval=0.2, seed=7)
    emulator.start()
    device = f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{emulator.path}"\n'
    device += "interval = 0.2\n"
    config = write_config(
        tmp_path,
        devices=device,
        broker_port=link.port,
        prefix=PREFIX,
        extra=f'compress_history = true\nhistory_batch = 5\npayload = "{form}"\n',
    )
    site_db = tmp_path / "edged.db"
    try:
        daemon = daemons(config)
        wait_until(lambda: len(central_keys(db)) >= 3, 60, interval=0.3, what="live records")
        assert db("SELECT state, product FROM devices WHERE site = 'test-site'")[0][0] == "ok"
        assert db("SELECT status FROM sites WHERE site = 'test-site'") == [("online",)]

        link.cut()  # the 3G link drops: records wait in the site's outbox
        before = len(site_keys(site_db))
        wait_until(lambda: len(site_keys(site_db)) >= before + 8, 60, what="records stored offline")
        link.restore()
        wait_until(
            lambda: not db_rows(site_db, "SELECT record_id FROM outbox"),
            90,
            what="the site's outbox drained",
        )
        time.sleep(1)  # records the site is still publishing live
        wait_until(
            lambda: site_keys(site_db) <= central_keys(db),
            90,
            interval=0.3,
            what="every stored record at the centre",
        )
        history = db("SELECT count(*) FROM records WHERE site = 'test-site' AND NOT live")
        assert history[0][0] >= 5, "the outage's records came as (gzip) history"
        daemon.terminate()  # its last batch committed: from now on the site's set is final
        centre = central_keys(db)
        assert centre <= site_keys(site_db), "the centre holds a record the site does not"
        assert counter(db, "records_inserted") == len(centre)
        (metrics,) = db("SELECT metrics FROM site_latest WHERE site = 'test-site'")[0]
        assert "battery_voltage" in metrics and "pv_power" in metrics, metrics
        assert 5 < metrics["battery_voltage"] < 30 and metrics["charger_state"], metrics
        assert not db("SELECT topic, reason FROM rejects")
        assert c.alive()
    finally:
        emulator.stop()
        link.stop()
