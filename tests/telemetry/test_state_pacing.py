"""Which device states a commit writes (`telemetry.state_pacing`), without a database."""

from __future__ import annotations

from edged.readings import DeviceState, Liveness
from telemetry.rows import DeviceStateRow
from telemetry.state_pacing import StatePacer


def row(liveness: Liveness = Liveness.OK, serial: str = "HQ1", seen: float = 1.0) -> DeviceStateRow:
    return DeviceStateRow("mppt", DeviceState(liveness, seen, {"serial": serial}), seen)


def taken(pacer: StatePacer, now: float, final: bool = False) -> dict[str, DeviceStateRow]:
    into: dict[str, DeviceStateRow] = {}
    pacer.take(into, now, final)
    return into


def test_a_first_or_changed_state_goes_at_once_an_unchanged_one_after_refresh():
    pacer = StatePacer(refresh=300.0)
    pacer.put(row())
    first = taken(pacer, now=0.0)
    assert list(first) == ["mppt"]
    pacer.written(first.values(), now=0.0)
    pacer.put(row(seen=2.0))  # counters and last_seen only
    assert taken(pacer, now=299.0) == {}
    assert taken(pacer, now=300.0)["mppt"].state.last_seen == 2.0
    pacer.written([row(seen=2.0)], now=300.0)
    pacer.put(row(Liveness.STALE, seen=3.0))
    assert list(taken(pacer, now=301.0)) == ["mppt"]  # liveness changed
    pacer.written([row(Liveness.STALE, seen=3.0)], now=301.0)
    pacer.put(row(Liveness.STALE, serial="HQ2", seen=4.0))
    assert list(taken(pacer, now=302.0)) == ["mppt"]  # a new identity (a swapped controller)


def test_a_clean_stop_takes_every_waiting_state_and_a_retry_takes_the_newest():
    pacer = StatePacer(refresh=300.0)
    pacer.put(row())
    pacer.written(taken(pacer, now=0.0).values(), now=0.0)
    pacer.put(row(seen=2.0))
    assert list(taken(pacer, now=1.0, final=True)) == ["mppt"]
    retry = {"mppt": row(seen=5.0)}  # a failed commit's state, kept for its retry
    pacer.put(row(seen=6.0))
    pacer.take(retry, now=2.0, final=False)
    assert retry["mppt"].state.last_seen == 6.0
