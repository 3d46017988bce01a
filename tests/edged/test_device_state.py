"""A device's state, pinned byte for byte where it leaves the daemon: the retained `P/device`
payload (docs/mqtt.md, the contract dashboards read) and its entry in the live view that
`edged status` reads. Pinned from the payloads the daemon sent before the state was typed, so the
typing is proven to change nothing on the wire or in the live folder.
"""

from __future__ import annotations

import json
import re
import threading

import pytest

from drivers.base import Counters
from edged import live
from edged.clock import ClockWatch
from edged.config.devices import DeviceConfig
from edged.readings import DeviceState, Liveness, Reading
from edged.runner import DeviceRunner
from telemetry import topics

OK = DeviceState(
    Liveness.OK,
    1700000000.25,
    info={"product": "SmartSolar MPPT 100/30", "serial": "HQ2211ABCDE", "firmware": "1.61"},
    counters={
        "accepted": 1204,
        "rejected": 3,
        "samples": 60,
        "driver_errors": 0,
        "rejected_checksum": 3,
    },
    data={"relay_state": "off", "cell_voltages": "3.31,3.32"},
)
STALE = DeviceState(
    Liveness.STALE,
    1700000060.0,
    info={"product": "BMV-712 Smart", "state": "bogus"},  # a device cannot override `state`
    counters={"accepted": 10, "rejected": 0, "samples": 1, "driver_errors": 0},
    data={},
)
BANK = DeviceState(  # a [[batteries]] bank: a virtual device with no raw data of its own
    Liveness.OFFLINE,
    None,
    info={
        "soc_source": "estimated",
        "chemistry": "lifepo4",
        "nominal_voltage": 24.0,
        "capacity_ah": 200.0,
        "controller": "mppt",
    },
    counters={"samples": 0},
)

PAYLOADS = {
    "ok": b'{"state":"ok","last_seen":1700000000.25,"data":{"relay_state":"off","cell_voltages":'
    b'"3.31,3.32"},"counters":{"accepted":1204,"rejected":3,"samples":60,"driver_errors":0,'
    b'"rejected_checksum":3},"product":"SmartSolar MPPT 100/30","serial":"HQ2211ABCDE",'
    b'"firmware":"1.61"}',
    "stale": b'{"state":"stale","last_seen":1700000060,"data":{},"counters":{"accepted":10,'
    b'"rejected":0,"samples":1,"driver_errors":0},"product":"BMV-712 Smart"}',
    "bank": b'{"state":"offline","last_seen":null,"counters":{"samples":0},"soc_source":'
    b'"estimated","chemistry":"lifepo4","nominal_voltage":24,"capacity_ah":200,'
    b'"controller":"mppt"}',
    "never_seen": b'{"state":"offline","last_seen":null,"data":{},"counters":{"accepted":0,'
    b'"rejected":0,"samples":0,"driver_errors":0}}',
    "error_with_reason": b'{"state":"offline","last_seen":null,"data":{},"counters":{"accepted"'
    b':0,"rejected":2,"samples":0,"driver_errors":1,"rejected_bad_frame":2,'
    b'"rejected_out_of_bounds":1},"firmware":"v2"}',
}
LIVE = {
    "never_seen": b'{"device":"dev","state":"offline","last_seen":null,"info":{},"data":{},'
    b'"counters":{"accepted":0,"rejected":0,"samples":0,"driver_errors":0},"transitions":'
    b'{"total":0,"not_logged":0},"latest":null}',
    "error_with_reason": b'{"device":"dev","state":"offline","last_seen":null,"info":'
    b'{"firmware":"v2"},"data":{},"counters":{"accepted":0,"rejected":2,"samples":0,'
    b'"driver_errors":1,"rejected_bad_frame":2,"rejected_out_of_bounds":1},"transitions":'
    b'{"total":0,"not_logged":0},"latest":null}',
}


class _Driver:
    """A driver that never reads a good value: raises a bug once, then refuses a bad one."""

    def __init__(self, steps: list[object]) -> None:
        self.counters = Counters()
        self.info: dict[str, str] = {}
        self.steps = steps

    def open(self) -> None:
        pass

    def read(self, deadline: float) -> list[Reading]:
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    def close(self) -> None:
        pass


def _runner(steps: list[object]) -> DeviceRunner:
    device = DeviceConfig("dev", "scripted", 1.0, 60.0, 120.0, {})
    return DeviceRunner(
        device,
        _Driver(steps),
        push=False,
        on_sample=lambda _s: None,
        on_state=lambda _d, _s, _c: None,
        clock=ClockWatch(flag_path="/nonexistent"),
        stop=threading.Event(),
    )


def never_seen() -> DeviceRunner:
    return _runner([])


def error_with_reason() -> DeviceRunner:
    runner = _runner([RuntimeError("driver bug"), [Reading({"battery_voltage": -5.0})]])
    runner.stop.set()  # the bug's backoff wait returns at once
    runner._read_once()
    runner._read_once()
    runner.driver.counters.reject("bad_frame")
    runner.driver.counters.reject("bad_frame")
    runner.driver.info["firmware"] = "v2"
    return runner


@pytest.mark.parametrize(("name", "state"), [("ok", OK), ("stale", STALE), ("bank", BANK)])
def test_the_retained_device_payload_is_todays(name, state):
    assert topics.device_state_payload(state) == PAYLOADS[name]


@pytest.mark.parametrize("make", [never_seen, error_with_reason])
def test_a_runners_payload_and_live_entry_are_todays(make, tmp_path):
    runner = make()
    name = make.__name__
    assert topics.device_state_payload(runner.snapshot(runner.reported)) == PAYLOADS[name]
    path = tmp_path / "live.json"
    live.write(path, {"devices": [{"device": "dev", **runner.live_view()}]})
    text = path.read_bytes()
    entry = text[text.index(b'"devices":[') + len(b'"devices":[') : -2]
    assert entry == LIVE[name]
    assert json.loads(text)["devices"][0] == json.loads(LIVE[name])


@pytest.mark.parametrize("state", [OK, STALE, BANK])
def test_a_state_reads_back_from_its_json(state):
    assert DeviceState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@pytest.mark.parametrize(
    ("bad", "names"),
    [
        ([], "expected an object"),
        ({"state": "unknown"}, "state: expected ok, stale or offline, got 'unknown'"),
        ({"state": "ok", "last_seen": "yesterday"}, "last_seen"),
        ({"state": "ok", "last_seen": True}, "last_seen"),
        ({"state": "ok", "last_seen": 1.0, "info": ["x"]}, "info: expected an object"),
        ({"state": "ok", "last_seen": 1.0, "info": {"serial": {"nested": 1}}}, "info.serial"),
        ({"state": "ok", "last_seen": 1.0, "counters": {"accepted": 1.5}}, "counters.accepted"),
        ({"state": "ok", "last_seen": 1.0, "counters": {"accepted": False}}, "counters.accepted"),
        ({"state": "ok", "last_seen": 1.0, "data": None}, "data: expected an object"),
    ],
)
def test_a_hostile_state_is_refused_naming_the_key(bad, names):
    with pytest.raises(ValueError, match=re.escape(names)):
        DeviceState.from_dict(bad)
