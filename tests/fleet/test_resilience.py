"""Nothing lost, nothing doubled: a collector killed (-9) during ingest while another shares the
subscription, and PostgreSQL restarted during ingest. Real mosquitto, PostgreSQL, collectors."""

from __future__ import annotations

import threading
import time

from tests.fleet.link import Link
from tests.fleet.publisher import Publisher
from tests.fleet.test_collect import T0, counter, record, started, wait_subscribed
from tests.peers.replay import wait_until

SITES = 6


def paced_site_traffic(central, total: int, chunk: int = 100, pause: float = 0.1):
    """Publish `total` records from SITES sites in paced chunks, in a thread; returns (thread,
    expected keys). Each chunk waits for its PUBACKs, so every record reached the broker."""
    keys = [(f"site-{i % SITES}", "mppt", T0 + 60 * (i // SITES)) for i in range(total)]
    errors: list[BaseException] = []

    def run() -> None:
        pub = Publisher(central.host, central.port)
        try:
            for start in range(0, total, chunk):
                batch = keys[start : start + chunk]
                pub.publish([(f"edged/{s}/telemetry/{d}", record(ts, 50)) for s, d, ts in batch])
                time.sleep(pause)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            pub.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, {(s, d, float(ts)) for s, d, ts in keys}, errors


def stored_keys(db) -> set[tuple[str, str, float]]:
    return {(s, d, ts.timestamp()) for s, d, ts in db("SELECT site, device, ts FROM records")}


def test_kill_9_of_one_of_two_collectors_loses_nothing_and_doubles_nothing(collectors, db, central):
    first = started(collectors, db, 1)
    second = collectors(2)
    wait_subscribed(first)
    wait_subscribed(second)
    total = 4000
    thread, expected, errors = paced_site_traffic(central, total)
    wait_until(
        lambda: db(
            "SELECT value FROM collector_counters WHERE collector LIKE '%%-2' AND"
            " name = 'messages' AND value >= 300"
        ),
        90,
        interval=0.2,
        what="the second collector ingesting its share",
    )
    second.kill()
    assert len(stored_keys(db)) < total, "ingest ended before the kill: the test proves nothing"
    time.sleep(1)  # its share queues at the broker meanwhile
    collectors(2)  # the same slot: the same client id and session
    thread.join(120)
    assert not errors, errors
    wait_until(lambda: len(stored_keys(db)) >= total, 120, interval=0.5, what="every record")
    time.sleep(2)  # a late redelivery would show as more rows or more inserts
    assert stored_keys(db) == expected
    (rows,) = db("SELECT count(*) FROM records")
    assert rows[0] == total
    assert counter(db, "records_inserted") == total
    shares = dict(db("SELECT collector, value FROM collector_counters WHERE name = 'messages'"))
    assert len(shares) == 2 and all(v > 0 for v in shares.values()), shares


def test_postgresql_restart_during_ingest_loses_nothing(collectors, db, central, postgres):
    c = started(collectors, db, 1)
    wait_subscribed(c)
    total = 3000
    thread, expected, errors = paced_site_traffic(central, total)
    wait_until(lambda: counter(db, "records_inserted") >= 300, 90, interval=0.2, what="ingest")
    postgres.stop()
    wait_until(lambda: "database unavailable" in c.logs(), 60, what="the collector seeing it")
    time.sleep(2)
    postgres.start()
    thread.join(120)
    assert not errors, errors
    wait_until(lambda: len(stored_keys(db)) >= total, 120, interval=0.5, what="every record")
    assert stored_keys(db) == expected
    assert c.alive()
    assert counter(db, "db_retries") >= 1
    assert "database back after" in c.logs()


def test_the_collectors_link_to_the_broker_cut_during_ingest_loses_nothing(
    tmp_path, collectors, db, central
):
    """Unacknowledged messages come back on the resumed session, under their packet ids; the
    collector commits them once and acknowledges only the copies of the new connection."""
    link = Link(central.host, central.port).start()
    try:
        c = started(collectors, db, 1, "--broker", f"127.0.0.1:{link.port}")
        wait_subscribed(c)
        total = 3000
        thread, expected, errors = paced_site_traffic(central, total)
        wait_until(lambda: counter(db, "records_inserted") >= 300, 90, interval=0.2, what="ingest")
        link.cut()
        wait_until(lambda: "disconnected from the broker" in c.logs(), 60, what="the cut seen")
        time.sleep(1)
        link.restore()
        thread.join(120)
        assert not errors, errors
        wait_until(lambda: len(stored_keys(db)) >= total, 120, interval=0.5, what="every record")
        assert stored_keys(db) == expected
        assert counter(db, "records_inserted") == total
        assert "session present: True" in c.logs()
    finally:
        link.stop()
