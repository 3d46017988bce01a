"""CPU cost of one full health round, as the daemon would run it every minute or so.

One round = host (psutil + a fake Raspberry Pi sysfs tree) + 3 service checks against local
servers (HTTP page, TCP port, remote-host reachability) + one equipment item (USB scan of a fake
tree of 12 devices, LAN connect) + the uplink read (/proc/net/dev of the fake tree) + the alarm
engine (built-in rules) over the round's readings; the engine's cost per device sample apart.
The servers run in a child process, so `time.process_time` (this process, all threads) counts
only the collector side. A systemd check is measured apart: most of its cost is the systemctl child,
counted from `os.times()` children times.

    .venv/bin/python bench/bench_health.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' peers, not installed

from edged.config.alarms import AlarmsConfig
from maintenance.alarms.engine import AlarmEngine
from maintenance.alarms.overrides import build
from maintenance.health.checks import CheckMonitor, CheckSpec, Kind, check_systemd
from maintenance.health.glasses import USB_DIR, Equipment, EquipmentSpec, UsbId
from maintenance.health.pibox import HWMON_DIR, THERMAL_PATH, THROTTLED_PATH, collect_host
from maintenance.health.traffic import NET_DEV, TrafficAccumulator
from maintenance.health.uplink import ConnectionTracker, collect_uplink
from tests.maintenance.health.test_peers import HttpPeer, TcpPeer, write_tree
from tests.peers.broker import free_port


def serve(ports: mp.Queue, stop: mp.Event) -> None:
    web, db, phone = HttpPeer(), TcpPeer(), TcpPeer()
    for peer in (web, db, phone):
        peer.start()
    ports.put((web.url, db.port, phone.port))
    stop.wait()
    for peer in (web, db, phone):
        peer.stop()


def fake_tree(root: Path) -> Path:
    files = {
        THROTTLED_PATH: "50000\n",
        THERMAL_PATH: "51234\n",
        f"{HWMON_DIR}/hwmon0/name": "cpu_thermal\n",
        f"{HWMON_DIR}/hwmon1/name": "rpi_volt\n",
        f"{HWMON_DIR}/hwmon1/in0_lcrit_alarm": "0\n",
        "proc/sys/kernel/random/boot_id": "3f1c0e52-0000-4000-8000-000000000001\n",
    }
    for i in range(12):
        files[f"{USB_DIR}/1-1.{i}/idVendor"] = f"{0x1000 + i:04x}\n"
        files[f"{USB_DIR}/1-1.{i}/idProduct"] = "0001\n"
    files[NET_DEV] = Path("/proc/net/dev").read_text().replace("lo:", "ppp0:", 1)
    return write_tree(root, files)


def cpu_ms_per_call(fn: Callable[[], object], rounds: int) -> float:
    fn()  # warm-up: imports, first psutil call
    start = time.process_time()
    for _ in range(rounds):
        fn()
    return (time.process_time() - start) * 1000.0 / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    ports: mp.Queue = mp.Queue()
    stop = mp.Event()
    child = mp.Process(target=serve, args=(ports, stop), daemon=True)
    child.start()
    url, db_port, phone_port = ports.get(timeout=10)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(fake_tree(Path(tmp)), url, db_port, phone_port, args.rounds)
    finally:
        stop.set()
        child.join(5)


def run(root: Path, url: str, db_port: int, phone_port: int, rounds: int) -> None:
    checks = [
        CheckMonitor(CheckSpec("openclinic", Kind.HTTP, url=url, timeout=2.0)),
        CheckMonitor(CheckSpec("mariadb", Kind.TCP, host="127.0.0.1", port=db_port)),
        CheckMonitor(CheckSpec("pibox-2", Kind.HOST, host="127.0.0.1", port=free_port())),
    ]
    glasses = Equipment(
        EquipmentSpec("glasses-1", (UsbId.parse("100b:0001"),), "127.0.0.1", phone_port)
    )
    traffic, link = TrafficAccumulator(), ConnectionTracker()
    link.event(time.time(), True)

    parts: dict[str, Callable[[], object]] = {
        "host": lambda: collect_host(root, data_path=str(root)),
        "3 checks": lambda: [c.run() for c in checks],
        "glasses (usb+lan)": lambda: glasses.collect(time.time(), root=root),
        "uplink": lambda: collect_uplink(time.time(), traffic, "ppp0", link, root=root),
    }
    readings = [fn() for fn in parts.values()]
    assert all(r.ok for r in (readings[0], *readings[1], readings[2], readings[3])), readings
    flat = [readings[0], *readings[1], readings[2], readings[3]]
    engine = AlarmEngine(build(AlarmsConfig()))
    parts["alarm engine"] = lambda: [
        engine.observe_many(f"health.{r.component}", r.values, time.time()) for r in flat
    ]
    metrics = {
        "battery_soc": 80.0,
        "battery_voltage": 12.9,
        "battery_temperature": 25.0,
        "pv_power": 120.0,
        "charger_error": 0,
        "charger_state": "bulk",
        **{f"other_{i}": float(i) for i in range(14)},
    }
    per_sample = cpu_ms_per_call(
        lambda: engine.observe_many("mppt", metrics, time.time()), rounds * 10
    )
    whole = cpu_ms_per_call(lambda: [fn() for fn in parts.values()], rounds)
    print(f"one health round: {whole:.2f} ms CPU ({rounds} rounds, {os.cpu_count()} cores)")
    for name, fn in parts.items():
        print(f"  {name:<18} {cpu_ms_per_call(fn, rounds):.2f} ms CPU")
    print(f"  alarm engine per device sample (20 metrics): {per_sample * 1000:.1f} µs CPU")
    systemd_rounds = max(10, rounds // 10)
    before = os.times()
    parent = cpu_ms_per_call(lambda: check_systemd("edged.service"), systemd_rounds)
    after = os.times()
    children = (after.children_user + after.children_system) - (
        before.children_user + before.children_system
    )
    print(
        f"  systemd check      {parent:.2f} ms CPU here + "
        f"{children * 1000 / (systemd_rounds + 1):.2f} ms in systemctl "
        f"({check_systemd('edged.service').status.value} on this machine)"
    )


if __name__ == "__main__":
    main()
