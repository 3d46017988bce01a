"""The publisher's delivery bookkeeping on its own: no broker, no database, a fake clock.

`telemetry.delivery.Delivery` is driven here as `telemetry.mqtt.Publisher` drives it; the
outbox is a list of records the tests answer `sweep_query` from (what `outbox.pending` does).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from edged.readings import Record
from telemetry import delivery as delivery_module
from telemetry.batching import Batching
from telemetry.delivery import Delivery, Outgoing, SweepQuery
from telemetry.live_queue import LIVE_QUEUE_MAX

INTERVAL = 60.0
STATUS_ON = Outgoing("control", "p/status", b"online", retain=True)
STATUS_OFF = Outgoing("control", "p/status", b"offline", retain=True)


class Clock:
    def __init__(self) -> None:
        self.wall = 1_800_000_000.0
        self.mono = 1000.0

    def step(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


class Harness:
    """A Delivery, a fake outbox and a fake broker that hands out message ids."""

    def __init__(
        self,
        max_inflight: int = 4,
        batch: int = 3,
        ack_timeout: float = 30.0,
        batching: Callable[[Clock], Batching] | None = None,
    ):
        self.clock = Clock()
        self.acked: list[int] = []
        self.outbox: dict[int, Record] = {}
        self.damaged: set[int] = set()
        self.next_mid = 1
        self.flights: dict[int, Outgoing] = {}
        self.d = Delivery(
            publish_interval=INTERVAL,
            history_batch=batch,
            max_inflight=max_inflight,
            ack_timeout=ack_timeout,
            ack=self.acked.extend,
            batching=None if batching is None else batching(self.clock),
            wall=lambda: self.clock.wall,
            mono=lambda: self.clock.mono,
        )

    def store(self, device: str, ts: float, content: float = 1.0) -> Record:
        rid = max([*self.outbox, *self.damaged, 0]) + 1
        record = Record(device, ts, True, 60, {"battery_voltage": content}, id=rid)
        self.outbox[rid] = record
        return record

    def fresh_ts(self) -> float:
        """A window that ended just now: live for one more interval."""
        return self.clock.wall - INTERVAL

    def read(self, q: SweepQuery) -> tuple[list[Record], list[int]]:
        ids = sorted(
            i
            for i in [*self.outbox, *self.damaged]
            if q.after_id < i <= q.upto_id and i not in q.exclude
        )[: q.limit]
        return [self.outbox[i] for i in ids if i in self.outbox], [
            i for i in ids if i in self.damaged
        ]

    def pump(self) -> list[Outgoing]:
        """What `Publisher._pump` does, with a broker that takes everything."""
        out: list[Outgoing] = []
        while self.d.free_slots > 0:
            message = self.d.next_message()
            if message is None:
                if not self.d.sweep_due:
                    break
                q = self.d.sweep_query()
                messages = self.d.sweep_messages(q, *self.read(q))
                if not messages:
                    break
                out.extend(self.send(m) for m in messages)
                continue
            out.append(self.send(message))
        return out

    def send(self, message: Outgoing) -> Outgoing:
        mid, self.next_mid = self.next_mid, self.next_mid + 1
        self.flights[mid] = message
        self.d.sent(mid, message, message.topic or "t", 100)
        return message

    def puback(self, message: Outgoing, failed: bool = False) -> float | None:
        mid = next(m for m, f in self.flights.items() if f is message)
        del self.flights[mid]
        rtt = self.d.acknowledged(mid, failed)
        if not failed:  # the Writer deletes acked rows
            for r in message.records:
                self.outbox.pop(r.id, None)
        return rtt

    def puback_all(self, messages: list[Outgoing]) -> None:
        for m in messages:
            self.puback(m)


def ids(messages: list[Outgoing]) -> list[int]:
    return [r.id for m in messages for r in m.records]


def test_the_module_does_no_io():
    """No paho, no socket, no sqlite: the bookkeeping is testable without a broker."""
    tree = ast.parse(Path(delivery_module.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    forbidden = ("paho", "socket", "sqlite3", "ssl", "telemetry.mqtt", "telemetry.outbox")
    assert not [n for n in names if n.startswith(forbidden)]


def test_the_backlog_goes_as_history_and_leaves_the_outbox_only_on_its_ack():
    h = Harness()
    backlog = [h.store("mppt", 60.0 * i) for i in range(5)]
    h.d.outbox_opened(backlog[-1].id)
    h.d.connected(STATUS_ON)
    sent = h.pump()
    assert sent[0] is STATUS_ON
    history = [m for m in sent if m.kind == "history"]
    assert ids(history) == [r.id for r in backlog]
    assert h.acked == [] and h.d.cursor == backlog[-1].id
    assert h.d.inflight == 3 and h.d.stats["sent_history"] == 5
    h.clock.step(0.25)
    assert h.puback(history[0]) == pytest.approx(0.25)  # the round trip
    assert h.acked == [r.id for r in backlog[:3]]
    h.puback_all([STATUS_ON, history[1]])
    assert sorted(h.acked) == [r.id for r in backlog] and h.d.stats["acked"] == 5


def test_a_failed_ack_or_a_lost_link_leaves_the_records_to_the_next_connection():
    h = Harness()
    backlog = [h.store("mppt", 60.0 * i) for i in range(2)]
    h.d.outbox_opened(backlog[-1].id)
    h.d.connected(STATUS_ON)
    history = [m for m in h.pump() if m.kind == "history"]
    assert h.puback(history[0], failed=True) is None
    assert h.acked == []
    assert h.pump() == []  # nothing is resent within the connection: the cursor passed it
    h.d.disconnected()
    assert not h.d.online and h.d.inflight == 0 and h.d.cursor == 0 and h.d.claimed == 0
    h.d.connected(STATUS_ON)
    again = [m for m in h.pump() if m.kind == "history"]
    assert ids(again) == [r.id for r in backlog]  # swept again from the start
    h.puback_all(again)
    assert h.acked == [r.id for r in backlog]
    assert h.d.stats["reconnects"] == 1


def test_an_overdue_puback_asks_for_a_reconnect_once_per_episode():
    h = Harness(ack_timeout=30.0)
    record = h.store("mppt", 0.0)
    h.d.outbox_opened(record.id)
    h.d.connected(STATUS_ON)
    sent = h.pump()
    assert h.d.ack_deadline() == pytest.approx(h.clock.mono + 30.0)
    h.clock.step(29.0)
    assert h.d.ack_overdue() is None
    h.clock.step(2.0)
    overdue = h.d.ack_overdue()
    assert overdue is not None and overdue.first and overdue.inflight == 2
    assert overdue.waited == pytest.approx(31.0)
    assert not h.d.online and h.d.ack_deadline() is None  # forgotten: the caller reconnects
    h.d.connected(STATUS_ON)
    sent = h.pump()
    assert ids(sent) == [record.id]
    h.clock.step(31.0)
    second = h.d.ack_overdue()
    assert second is not None and not second.first  # the same episode: logged once
    assert h.d.stats["ack_timeouts"] == 2
    h.d.connected(STATUS_ON)
    sent = h.pump()
    h.puback_all(sent)  # a PUBACK ends the episode
    h.d.connected(STATUS_ON)
    h.clock.step(31.0)
    h.store("mppt", 60.0)
    h.d.committed([h.outbox[max(h.outbox)]], h.clock.mono)
    h.pump()
    h.clock.step(31.0)
    third = h.d.ack_overdue()
    assert third is not None and third.first
    assert h.acked == [record.id]


def test_fresh_records_go_live_and_stale_ones_to_history():
    h = Harness()
    h.d.connected(STATUS_ON)
    h.puback_all(h.pump())
    fresh = h.store("mppt", h.fresh_ts())
    old = h.store("mppt", h.fresh_ts() - 3600)  # replayed after a night-long power cut
    h.d.committed([fresh, old], h.clock.mono)
    sent = h.pump()
    assert [(m.kind, ids([m])) for m in sent] == [("live", [fresh.id]), ("history", [old.id])]


def test_a_record_that_waits_past_its_interval_goes_as_history_with_its_stale_followers():
    h = Harness(max_inflight=1, batch=10)
    h.d.connected(STATUS_ON)
    h.puback_all(h.pump())
    first = [h.store("mppt", h.fresh_ts() + i) for i in range(3)]
    h.d.closed(first, h.clock.mono)  # queued live before their commit
    head = h.pump()  # one slot: one goes live, two wait
    assert [m.kind for m in head] == ["live"]
    h.clock.step(INTERVAL + 5)  # a slow broker: the PUBACK comes late
    h.puback_all(head)
    h.d.committed(first, h.clock.mono)
    late = h.pump()
    assert [(m.kind, ids([m])) for m in late] == [("history", [first[1].id, first[2].id])]
    assert h.d.stats["late_to_history"] == 2


def test_the_monotonic_clock_keeps_an_old_close_off_the_live_topic_after_a_backward_jump():
    h = Harness()
    h.d.connected(STATUS_ON)
    h.puback_all(h.pump())
    record = h.store("mppt", h.fresh_ts())
    closed = h.clock.mono
    h.clock.mono += 2 * INTERVAL  # two intervals pass, but the wall clock was stepped back
    # by as much (it does not move here): by the wall clock alone `ts` still reads fresh
    h.d.committed([record], closed)
    assert [m.kind for m in h.pump()] == ["history"]


def test_one_device_ts_leaves_once_with_one_content_live_and_swept():
    h = Harness(max_inflight=2, batch=2)
    backlog = [h.store("mppt", 60.0 * i) for i in range(6)]
    h.d.outbox_opened(backlog[-1].id)
    h.d.connected(STATUS_ON)
    live = [h.store("bms", h.fresh_ts() + i) for i in range(3)]
    h.d.closed(live, h.clock.mono)  # live before commit, ahead of the sweep
    h.d.committed(live, h.clock.mono)
    seen: list[int] = []
    contents: dict[tuple[str, float], set[str]] = {}
    for _ in range(20):
        sent = h.pump()
        seen += ids(sent)
        for r in (r for m in sent for r in m.records):
            contents.setdefault((r.device, r.ts), set()).add(repr(r.metrics))
        h.puback_all(sent)
    assert sorted(seen) == sorted(r.id for r in backlog + live)  # each once
    assert len(seen) == len(set(seen))
    assert sorted(h.acked) == sorted(seen)
    assert all(len(c) == 1 for c in contents.values())
    assert len(contents) == len(backlog) + len(live)


def test_a_window_handed_over_before_its_commit_is_not_swept_past_the_horizon():
    h = Harness()
    h.d.connected(STATUS_ON)
    h.puback_all(h.pump())
    record = h.store("mppt", h.fresh_ts() - 3600)  # stale: not live
    h.d.closed([record], h.clock.mono)
    assert h.d.horizon == 0 and h.pump() == []  # its outbox row is not committed yet
    h.d.committed([record], h.clock.mono)
    assert ids(h.pump()) == [record.id]


def test_claims_never_exceed_the_live_queue_and_slots():
    h = Harness(max_inflight=2, batch=5)
    h.d.connected(STATUS_ON)
    h.puback_all(h.pump())
    many = [h.store("mppt", h.fresh_ts()) for _ in range(LIVE_QUEUE_MAX + 50)]
    h.d.closed(many, h.clock.mono)  # a burst bigger than the live queue
    assert h.d.claimed == LIVE_QUEUE_MAX
    h.d.committed(many, h.clock.mono)
    seen: list[int] = []
    while len(seen) < len(many):
        sent = h.pump()
        assert sent, "delivery stalled"
        assert h.d.claimed <= LIVE_QUEUE_MAX + 2 * 5
        seen += ids(sent)
        h.puback_all(sent)
    assert sorted(seen) == [r.id for r in many] and h.d.claimed == 0


def test_a_reconnect_releases_every_claim():
    h = Harness(max_inflight=1)
    h.d.connected(STATUS_ON)
    live = [h.store("mppt", h.fresh_ts()) for _ in range(5)]
    h.d.closed(live, h.clock.mono)
    assert h.d.claimed == 5
    h.d.disconnected()
    assert h.d.claimed == 0 and h.d.next_message() is None
    h.d.committed(live, h.clock.mono)  # offline: they wait in the outbox
    h.d.connected(STATUS_ON)
    seen: list[int] = []
    for _ in range(10):
        sent = h.pump()
        seen += ids(sent)
        h.puback_all(sent)
    assert sorted(seen) == [r.id for r in live]


def test_damaged_rows_are_dropped_counted_and_do_not_stop_the_sweep(caplog):
    h = Harness(batch=10)
    good = [h.store("mppt", 60.0 * i) for i in range(2)]
    h.damaged.add(max(h.outbox) + 1)  # a row that no longer decodes
    after = h.store("mppt", 600.0)
    h.d.outbox_opened(after.id)
    h.d.connected(STATUS_ON)
    sent = h.pump()
    assert ids(sent) == [good[0].id, good[1].id, after.id]
    assert h.acked == [after.id - 1]  # dropped through the Writer, like an ack
    assert h.d.stats["damaged_records"] == 1
    assert "unreadable" in caplog.text


def test_stop_sends_only_the_offline_status_and_ends_when_it_is_acked():
    h = Harness()
    h.d.connected(STATUS_ON)
    h.puback_all(h.pump())
    h.d.health("p/health/pibox", b"{}")
    h.d.stop(STATUS_OFF)
    h.d.health("p/health/pibox", b"{}")  # ignored once stopping
    sent = h.pump()
    assert sent == [STATUS_OFF]
    assert not h.d.done(past_deadline=False)
    h.puback(STATUS_OFF)
    assert h.d.done(past_deadline=False)


def test_retained_states_are_republished_on_every_connect_latest_only():
    h = Harness()
    h.d.state("p/device/mppt", b"ok")
    h.d.state("p/device/mppt", b"stale")
    h.d.connected(STATUS_ON)
    first = h.pump()
    assert [(m.kind, m.payload) for m in first] == [("control", b"online"), ("state", b"stale")]
    h.d.disconnected()
    h.d.connected(STATUS_ON)
    assert [m.payload for m in h.pump()] == [b"online", b"stale"]
