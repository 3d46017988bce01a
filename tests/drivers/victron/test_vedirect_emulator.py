"""The VE.Direct emulator: wire shape per model, consistent values, pty plug/unplug, CLI.

Being built on the same tables as the decoder it proves the emulator, not the tables (the
captures do that).
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial

from drivers.victron.vedirect.assembler import BlockAssembler
from drivers.victron.vedirect.codec import Block, HexFrame, Rejected, TextCodec
from drivers.victron.vedirect.driver import VeDirectDriver
from drivers.victron.vedirect.emulator import ASYNC_REGISTERS, PtyEmulator
from drivers.victron.vedirect.emulator import mppt as emulator_mppt
from drivers.victron.vedirect.fields import decode
from drivers.victron.vedirect.simulation import SolarSite
from tests.peers.replay import wait_until

ROOT = Path(__file__).resolve().parents[3]


def raw_stream(emulator: PtyEmulator, cycles: int) -> list:
    """Codec events read straight off the pty (no driver) until `cycles` cycles were sent."""
    fd = os.open(emulator.path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    codec, evs = TextCodec(), []
    try:
        start = len(emulator.sent)
        end = time.monotonic() + 10
        while len(emulator.sent) < start + cycles * 2 and time.monotonic() < end:
            if select.select([fd], [], [], 0.05)[0]:
                evs += codec.feed(os.read(fd, 4096))
    finally:
        os.close(fd)
    return evs


def contiguous_in(part: list, whole: list) -> bool:
    return any(whole[k : k + len(part)] == part for k in range(len(whole) - len(part) + 1))


MODELS = {
    "mppt": (
        "SmartSolar MPPT 100/20",
        [
            ("PID", "FWE", "SER#", "V", "I", "VPV", "PPV", "CS", "MPPT", "OR"),
            ("ERR", "LOAD", "IL", "H19", "H20", "H21", "H22", "H23", "HSDS"),
        ],
    ),
    "mppt-legacy": (
        "BlueSolar MPPT 75/15",
        [
            (
                "PID",
                "FW",
                "SER#",
                "V",
                "I",
                "VPV",
                "PPV",
                "CS",
                "ERR",
                "LOAD",
                "IL",
                "H19",
                "H20",
                "H21",
                "H22",
                "H23",
                "HSDS",
            )
        ],
    ),
    "bmv": (
        "BMV-712 Smart",
        [
            (
                "PID",
                "V",
                "VS",
                "I",
                "P",
                "CE",
                "SOC",
                "TTG",
                "Alarm",
                "Relay",
                "AR",
                "BMV",
                "FW",
                "MON",
            ),
            tuple(f"H{i}" for i in range(1, 19)),
        ],
    ),
    "smartshunt": (
        "SmartShunt 500A/50mV",
        [
            (
                "PID",
                "V",
                "VM",
                "DM",
                "I",
                "P",
                "CE",
                "SOC",
                "TTG",
                "Alarm",
                "AR",
                "BMV",
                "FW",
                "MON",
            ),
            tuple(f"H{i}" for i in (*range(1, 13), 17, 18)),
        ],
    ),
}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_each_model_sends_its_block_layout_with_valid_checksums(tmp_path, model):
    product, layouts = MODELS[model]
    emulator = PtyEmulator(model, interval=0.02, seed=11).start()
    try:
        evs = raw_stream(emulator, cycles=6)
        sent = [tuple(b.items()) for b in emulator.sent]
    finally:
        emulator.stop()
    assert not [e for e in evs if isinstance(e, Rejected)][1:]  # only the partial first block
    got = [e.fields for e in evs if isinstance(e, Block)]
    assert len(got) >= 4 and contiguous_in(got, sent)
    assert {tuple(k for k, _ in fields) for fields in got} == set(layouts)
    assembler = BlockAssembler()
    records = [r for fields in got for r in assembler.add(fields)]
    readings = [decode(r) for r in records]  # no RecordRejected: values within bounds
    assert readings and all(r.info["product"] == product for r in readings)
    frames = [e for e in evs if isinstance(e, HexFrame)]
    if model == "mppt":
        assert frames and all(f.command == 0xA for f in frames)
        assert {int.from_bytes(f.data[:2], "little") for f in frames} <= set(ASYNC_REGISTERS)
    else:
        assert not frames


def local(day: int, hour: float) -> float:
    """Unix time of `hour` (local) on day `day` of a fixed month."""
    return time.mktime((2024, 3, day, int(hour), int(hour % 1 * 60), 0, 0, 0, -1))


def test_sun_curve_drives_pv_and_charging():
    site = SolarSite(random.Random(1))
    site.step(local(4, 0.5), 1.0)
    assert (site.pv_w, site.charger_i, site.state, site.load_i) == (0.0, 0.0, "off", 1.5)
    assert site.battery_i < 0 and site.time_to_go_min > 0
    site.step(local(4, 12.5), 1.0)
    assert site.pv_w > 200 and site.charger_i > 0 and site.state in ("bulk", "absorption")
    limit = 20.0 * {"bulk": 1.0, "absorption": 0.4}[site.state]
    limited = site.charger_i == pytest.approx(limit)
    assert site.tracker == ("voltage_current_limited" if limited else "mppt_active")
    assert 60 < site.pv_v < 70
    assert site.battery_i == pytest.approx(site.charger_i - site.load_i - 155 / 24, abs=2.0)
    site.step(local(4, 7.5), 1.0)  # low morning sun: the tracker is the limit
    assert 0 < site.pv_w < 200 and site.tracker == "mppt_active"


def test_mppt_reports_i_net_of_its_load_output():
    """VE.Direct `I` is the battery current less the load output: at night about −IL."""
    site = SolarSite(random.Random(1))
    site.step(local(4, 0.5), 1.0)  # night: no charge, the load output on
    fields = dict(block for part in emulator_mppt(site, "HQ0000") for block in part)
    assert int(fields["IL"]) == 1500 and int(fields["I"]) == -1500
    site.step(local(4, 12.5), 1.0)
    fields = dict(block for part in emulator_mppt(site, "HQ0000") for block in part)
    assert int(fields["I"]) == round(1000 * (site.charger_i - site.load_i))


def test_battery_follows_the_net_current_and_days_roll_over():
    site = SolarSite(random.Random(2))
    site.step(local(4, 12.0), 1.0)
    soc, total = site.soc, site.yield_total
    for i in range(1, 13):
        site.step(local(4, 12.0) + 300 * i, 300.0)  # one hour of midday sun
    assert site.soc > soc and site.yield_today > 0.2
    assert site.yield_total == pytest.approx(total + site.yield_today, abs=0.01)
    assert site.consumed_ah == pytest.approx(-(100 - site.soc) * 2)
    today, seq, soc = site.yield_today, site.day_sequence, site.soc
    site.step(local(5, 0.2), 600.0)  # past midnight, at night
    assert (site.yield_yesterday, site.yield_today) == (today, 0.0)
    assert site.day_sequence == (seq + 1) % 365 and site.soc < soc


def test_unplug_removes_the_link_and_replug_points_it_to_a_new_tty(tmp_path):
    link = tmp_path / "ttyVE0"
    emulator = PtyEmulator("bmv", link=str(link), interval=0.02, seed=3).start()
    try:
        first = os.readlink(link)
        emulator.unplug()
        assert not link.exists() and not link.is_symlink()
        sent = len(emulator.sent)
        time.sleep(0.1)  # cycles run while unplugged; nothing is recorded as sent
        assert len(emulator.sent) == sent
        emulator.replug()
        assert os.readlink(link) != first or os.path.exists(first)
        wait_until(lambda: len(emulator.sent) > sent, 5, what="sending again")
    finally:
        emulator.stop()
    assert not link.is_symlink()


def test_command_line_entry_point_runs_until_sigterm(tmp_path):
    link = tmp_path / "ttyVE1"
    cmd = [sys.executable, "-m", "drivers.victron.vedirect.emulator", "--model", "smartshunt"]
    proc = subprocess.Popen(
        [*cmd, "--link", str(link), "--interval", "0.05", "--seed", "1"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(link.exists, 10, what="emulator link")
        driver = VeDirectDriver(str(link))
        driver.open()
        reading = None
        end = time.monotonic() + 5
        while reading is None and time.monotonic() < end:
            reading = next(iter(driver.read(time.monotonic() + 0.1)), None)
        driver.close()
        assert reading is not None and reading.info["product"] == "SmartShunt 500A/50mV"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert not link.is_symlink()
    finally:
        proc.kill()
        proc.wait()


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model"):
        PtyEmulator("phoenix")


def test_a_bare_pyserial_reader_sees_no_error_while_a_stale_reader_retries_an_old_port():
    """Issue 11: the kernel recycles pty numbers, so a reader reopening a stopped emulator's
    `/dev/pts/N` landed on the next emulator's pty and stole its bytes; the rightful reader then
    saw "readiness to read but returned no data" every few seconds. The port is now a link that
    goes with the emulator."""
    old = PtyEmulator("mppt", interval=0.2, seed=1).start()
    stale = old.path
    old.stop()
    assert not os.path.lexists(stale)
    emulator = PtyEmulator("mppt", interval=0.2, seed=2).start()
    stop = threading.Event()
    intruded: list[str] = []

    def stale_reader() -> None:  # what a driver does: reopen its configured port, read, repeat
        while not stop.is_set():
            try:
                with serial.Serial(stale, 19200, timeout=0.2) as port:
                    intruded.append(stale)
                    while not stop.is_set():
                        port.read(4096)
            except (serial.SerialException, OSError):
                stop.wait(0.2)

    thread = threading.Thread(target=stale_reader, daemon=True)
    thread.start()
    errors: list[str] = []
    received = 0
    try:
        with serial.Serial(emulator.path, 19200, timeout=0.3) as port:
            end = time.monotonic() + 8
            while time.monotonic() < end:
                try:
                    received += len(port.read(4096))
                except serial.SerialException as exc:
                    errors.append(str(exc))
    finally:
        stop.set()
        thread.join(5)
        emulator.stop()
    assert errors == [] and intruded == []
    assert received > 1000  # about 8 s of two blocks every 0.2 s
