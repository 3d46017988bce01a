"""The frugal uplink end to end, all real: `edged run` (subprocess, a VE.Direct controller on a
pty) in `[telemetry] mode = "frugal"` -> mosquitto -> a subscriber reading `P/batch` with the
fleet collector's parser; a technician's `live` command turning live records on and off; hostile
`live` commands refused, answered and counted."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from fleet.items import Record as FleetRecord
from fleet.payloads import parse
from telemetry import commands
from tests.peers.broker import Broker
from tests.peers.commander import Commander, command
from tests.peers.daemon import DaemonProcess, write_config
from tests.peers.energy_pty import EnergyPty
from tests.peers.replay import wait_until
from tests.peers.subscriber import Subscriber

PREFIX = "frugal"
P = f"{PREFIX}/test-site"
KEY = "k3y-of-the-frugal-site-0123456789"
BATCH_S = 4


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("frugal")
    (workdir / "synced").touch()
    broker = Broker(workdir)
    broker.start()
    pty = EnergyPty(soc=95.0).__enter__()
    extra = (
        f'mode = "frugal"\nbatch_interval = {BATCH_S}\nlive_max_minutes = 1\n\n'
        f'[power]\ncapacity_wh = 2400\ntick = 0.5\ntimesync_flag = "{workdir / "synced"}"\n'
        "auto_report = false\n\n"
        f'[remote]\nenabled = true\nkey = "{KEY}"\nallow = ["ping", "live"]\n\n'
    )
    device = f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{pty.path}"\n'
    config = write_config(
        workdir, devices=device, broker_port=broker.port, prefix=PREFIX, extra=extra
    )
    everything = Subscriber(broker.host, broker.port, f"{P}/#").start()
    daemon = DaemonProcess(config, workdir / "edged.log")
    daemon.start()
    try:
        yield broker, everything, config, daemon
    finally:
        daemon.stop()
        everything.stop()
        pty.__exit__(None, None, None)
        broker.stop()


def records_in(messages) -> list[FleetRecord]:
    out = []
    for m in messages:
        items = parse(m.topic, m.payload, PREFIX)
        assert isinstance(items, list), items
        out += [i for i in items if isinstance(i, FleetRecord)]
    return out


def test_records_go_in_batches_the_collector_reads_and_not_live(site):
    broker, everything, _, daemon = site
    batches = everything.wait_for(lambda m: m.topic == f"{P}/batch", 60, count=2)
    assert daemon.proc.poll() is None
    assert batches[0].payload[:2] == b"\x1f\x8b"
    records = records_in(batches)
    assert records and {r.device for r in records} == {"mppt"}
    assert all(not r.live and "battery_voltage" in r.metrics for r in records)
    assert not everything.received(lambda m: m.topic.startswith(f"{P}/telemetry/"))


def test_the_live_command_turns_live_records_on_for_its_time_then_off(site):
    broker, everything, _, _ = site
    tech = Commander(broker.host, broker.port, P, KEY).start()
    try:
        answer = tech.run("live", {"minutes": 0.1})  # 6 s
        assert answer["ok"] is True and answer["result"]["live_s"] == pytest.approx(6.0)
        live = f"{P}/telemetry/mppt"
        got = everything.wait_for(lambda m: m.topic == live, 30, count=2)
        assert json.loads(got[-1].payload)["ts"] > time.time() - 5  # never older than a window
        time.sleep(6.0 + 2.0)  # the request ran out, and the window open then closed
        before = len(everything.received(lambda m: m.topic == live))
        time.sleep(4.0)
        assert len(everything.received(lambda m: m.topic == live)) == before
    finally:
        tech.stop()


@pytest.mark.parametrize(
    ("args", "sign", "reason"),
    [
        ({"minutes": -5}, True, "bad_args"),
        ({"minutes": "forever"}, True, "bad_args"),
        ({"minutes": 1e308}, True, "bad_args"),
        ({"minutes": 5, "rate": 1}, True, "bad_args"),
        ({"minutes": 5}, False, "unsigned"),
    ],
)
def test_a_hostile_live_command_is_refused_answered_and_counted(site, args, sign, reason):
    broker, everything, config, _ = site
    tech = Commander(broker.host, broker.port, P, KEY).start()
    try:
        body = command(args)
        tech.publish("live", body, sign=sign)
        answer = tech.result("live", body["id"])
        assert answer["ok"] is False and answer["error"] == reason, answer
        fr, en = commands.REASONS[reason]
        assert answer["message"].startswith(fr) and answer["message_en"].startswith(en)
    finally:
        tech.stop()
    argv = [sys.executable, "-m", "edged.cli", "status", "--json", "--config", str(config)]

    def counted() -> int:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
        return (json.loads(done.stdout).get("remote") or {}).get("errors", {}).get(reason, 0)

    wait_until(lambda: counted() >= 1, 30, what=f"{reason} counted")
