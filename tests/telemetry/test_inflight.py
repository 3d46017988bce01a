"""The PUBACK slots and deadline (telemetry.inflight), with plain numbers for the clock."""

from telemetry.inflight import Flight, InFlight


def test_deadline_follows_the_oldest_message_and_overdue_is_reported_once_per_episode():
    slots = InFlight(max_inflight=3, ack_timeout=10.0)
    assert slots.deadline() is None and slots.free() == 3
    slots.add(1, Flight("live", "t", (5,), sent=100.0))
    slots.add(2, Flight("history", "h", (6, 7), sent=104.0))
    assert slots.free() == 1
    assert slots.deadline() == 110.0
    assert slots.overdue(109.9) is None
    first = slots.overdue(111.0)
    assert first is not None and first.first and first.inflight == 2 and first.waited == 11.0
    again = slots.overdue(112.0)
    assert again is not None and not again.first
    assert slots.pop(1) == Flight("live", "t", (5,), sent=100.0)
    assert slots.pop(1) is None  # an ack of an earlier connection
    assert slots.deadline() == 114.0
