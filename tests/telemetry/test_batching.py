"""The frugal mode's bookkeeping (telemetry.batching driven through telemetry.delivery): no
broker, no database, a fake clock; the outbox is the harness's list, as in test_delivery."""

from __future__ import annotations

from edged.readings import Record
from telemetry.batching import Batching
from tests.telemetry.test_delivery import STATUS_ON, Clock, Harness, ids

HOUR = 3600.0


def frugal(max_records: int = 1000, live_max: float = 1800.0) -> Harness:
    def batching(clock: Clock) -> Batching:
        return Batching(
            interval=HOUR, max_records=max_records, live_max=live_max, mono=lambda: clock.mono
        )

    h = Harness(max_inflight=4, batch=3, batching=batching)
    h.d.connected(STATUS_ON)
    assert h.pump() == [STATUS_ON]
    h.puback(STATUS_ON)
    return h


def minute(h: Harness, devices: tuple[str, ...] = ("mppt", "bmv")) -> list[Record]:
    """A minute passes; one publish window of every device closes and is committed."""
    h.clock.step(60.0)
    records = [h.store(device, h.fresh_ts()) for device in devices]
    h.d.closed(records, h.clock.mono)
    h.d.committed(records, h.clock.mono)
    return records


def test_an_hour_of_records_and_health_goes_in_one_batch_acked_only_by_its_puback():
    h = frugal()
    stored: list[Record] = []
    for i in range(59):
        stored += minute(h)
        h.d.health_row(("pibox", {"ts": h.clock.wall, "values": {"cpu_temp": 50 + i % 3}}))
        assert h.pump() == [], f"minute {i}: nothing goes before the hour"
    assert h.d.wake_at() == h.clock.mono + 60.0
    stored += minute(h)
    [batch] = h.pump()
    assert batch.kind == "batch" and ids([batch]) == [r.id for r in stored]
    assert len(batch.health) == 59 and batch.health[0][0] == "pibox"
    assert h.d.stats["sent_live"] == 0 and h.d.stats["sent_batch"] == 1
    assert h.acked == []  # in the outbox until the PUBACK
    h.puback(batch)
    assert h.acked == [r.id for r in stored]
    assert h.d.wake_at() is None  # nothing waits


def test_a_batch_without_puback_is_sent_again_whole_after_the_reconnect():
    h = frugal()
    stored = [r for _ in range(60) for r in minute(h)]
    h.d.health_row(("pibox", {"ts": 1.0}))
    [batch] = h.pump()
    h.d.disconnected()  # the 3G link drops before the PUBACK
    assert h.acked == []
    h.d.connected(STATUS_ON)
    sent = h.pump()
    assert sent[0] is STATUS_ON
    [again] = sent[1:]  # at once after a connect, not an hour later
    assert ids([again]) == [r.id for r in stored] and again.health == batch.health
    h.puback(again)
    assert h.acked == [r.id for r in stored]


def test_a_full_batch_goes_early_and_a_backlog_drains_in_full_messages():
    h = frugal(max_records=10)
    for _ in range(4):
        minute(h)
    assert h.pump() == []
    minute(h)  # 10 records wait: the budget is full
    [first] = h.pump()
    assert len(first.records) == 10
    h.puback(first)
    h.d.disconnected()
    for _ in range(13):  # an outage: 26 records
        minute(h)
    h.d.connected(STATUS_ON)
    sent = [m for m in h.pump() if m.kind == "batch"]
    assert [len(m.records) for m in sent] == [10, 10, 6]


def test_health_rows_go_alone_when_no_record_waits():
    h = frugal()
    h.d.health_row(("pibox", {"ts": 1.0}))
    h.clock.step(HOUR - 1)
    assert h.pump() == []
    h.clock.step(1)
    [batch] = h.pump()
    assert batch.records == () and batch.health == (("pibox", {"ts": 1.0}),)


def test_live_goes_on_for_the_time_asked_capped_and_off_again():
    h = frugal(live_max=600.0)
    minute(h)
    assert h.pump() == []
    assert h.d.live(3600.0) == 600.0  # capped at live_max
    on = minute(h)
    sent = h.pump()
    assert [m.kind for m in sent] == ["live", "live"] and ids(sent) == [r.id for r in on]
    h.puback_all(sent)
    assert sorted(h.acked) == [r.id for r in on]
    h.clock.step(600.0)  # the request ran out
    minute(h)
    assert h.pump() == []
    h.d.live(300.0)
    h.d.live(0.0)  # turned off by the technician
    minute(h)
    assert h.pump() == []
    assert h.d.stats["sent_live"] == 2
