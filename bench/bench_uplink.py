"""The uplink's bytes a day at the IP level, TLS included, read from a network interface's counters.

Why this way: a counting TCP relay (bench_commands.py) sees MQTT bytes only, but the clinic pays
its 3G operator for IP packets: TCP/IP headers, TLS records, PUBACKs and TCP ACKs of both
directions. So the daemon runs in a network namespace of its own whose only way out is one veth
pair, and this script reads the root end's counters (`/sys/class/net/<if>/statistics`):
`rx` is what the site sent, `tx` what it received. The counters count Ethernet frames; 14 bytes of
Ethernet header a packet are taken off to give IP bytes. IPv6 is switched off on the pair (its
router and neighbour solicitations are not the uplink's) and the neighbours are static (no ARP).

mosquitto runs in the root namespace with a TLS listener on the veth's address only, its
certificate signed by a throwaway CA made with `openssl`; the daemon verifies it (`[mqtt.tls]
ca_file`). The site is the real daemon (`run_daemon`, what `edged run` runs) on the product's own
emulators (`edged simulate`'s), started inside the namespace by this script (`--child`):
- `three`: a charge controller (VE.Direct MPPT), a battery monitor (BMV) and the PiBox health;
- `seven`: `edged simulate`'s site (MPPT, BMV, GX system / solar charger / battery, EPEver, JBD).
Both with `edged simulate`'s defaults (publish every 60 s, gzip history, health every 60 s, the
power policy) but for the broker, `--payload` and `--mode` (`frugal`: `--batch-interval`,
`[mqtt] keepalive` = `--keepalive`). Both sites run at once, each in its own
namespace. The first `--warmup` seconds (connect, retained states, first records) are left out
and reported apart; the rest is extrapolated to a day.

`--drain 72`: the three-device site starts with 72 hours of 1-minute records of the MPPT and
the BMV in its outbox (bench_memory's `build`: random values, so gzip gains less than on real
ones), its way up shaped with `--shape` (384 kbit/s) and `--rtt` (netem where the kernel has
it, else bench/delay_relay.py between the daemon and the veth, inside the namespace), an
`openclinic` TCP check whose socket closes after `--alarm-after` seconds and a health round
every 2 s, so `openclinic_down` (critical, delay 0) is raised while the backlog drains. A
subscriber on the broker's loopback listener reads the history with the fleet collector's own
decoder: the time until every backlog record is at the broker, and the alarm's delay from its
`since` to its arrival there.

Needs root (`ip netns`), mosquitto and openssl. Cleans up its namespaces and links on exit.

    .venv/bin/python bench/bench_uplink.py --minutes 6 [--payload json|compact]
        [--mode frugal --batch-interval 3600 --keepalive 1200]
        [--sites three seven] [--shape 384kbit --rtt 300] [--drain 72 --sites three]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from netns import Namespace, free_port, make_ca, start_broker

ROOT = Path(__file__).resolve().parent.parent


def openclinic_check(after: float) -> str:
    """A TCP "openclinic" check on a socket of this process that closes after `after` s: its
    next health round (every 60 s) fails and raises `openclinic_down` (critical; delay 0)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    threading.Timer(after, server.close).start()
    return (
        f'\n[[health.checks]]\nname = "openclinic"\nkind = "tcp"\nhost = "127.0.0.1"\n'
        f"port = {port}\ntimeout = 2\n\n[alarms.openclinic_down]\ndelay = 0\n"
    )


def child(args: argparse.Namespace) -> int:
    """Inside the namespace: the site's emulators and the daemon, as `edged simulate` runs them."""
    sys.path.insert(0, str(ROOT))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from edged.cli import simulate
    from edged.cli.run import run_daemon
    from edged.config.loader import load

    workdir = Path(args.dir)
    chosen = simulate.SITE[:2] if args.child == "three" else simulate.SITE
    started, devices = [], []
    try:
        for emulated in chosen:
            emulator, tables = emulated.build(workdir)
            emulator.start()
            started.append(emulator)
            devices.extend(tables)
        sim_args = argparse.Namespace(broker=args.broker, no_mqtt=False, publish_interval=60.0)
        path = simulate.write_config(workdir, sim_args, devices)
        text = path.read_text()
        if args.payload:  # edged simulate's own line when it writes one, else a new one
            text = re.sub(r'(?m)^payload = ".*"\n', "", text)
            text = text.replace("[telemetry]\n", f'[telemetry]\npayload = "{args.payload}"\n')
        if args.mode == "frugal":  # hourly (or --batch-interval) batches, a NAT-long keepalive
            frugal = f'mode = "frugal"\nbatch_interval = {args.batch_interval}\n'
            text = text.replace("[telemetry]\n", f"[telemetry]\n{frugal}")
            text = re.sub(r"(?m)^keepalive = .*\n", "", text)
            text = text.replace("[mqtt]\n", f"[mqtt]\nkeepalive = {args.keepalive}\n")
        text += f'\n[mqtt.tls]\nca_file = "{args.ca}"\n'
        if args.alarm_after is not None:  # a health round every 2 s: the alarm comes mid-drain
            text = text.replace("[health]\n", "[health]\ninterval = 2\n")
            text += openclinic_check(args.alarm_after)
        path.write_text(text)
        return run_daemon(load(str(path)), stop_after=args.seconds)
    finally:
        for emulator in reversed(started):
            emulator.stop()


def measure(args: argparse.Namespace) -> None:
    if os.geteuid() != 0:
        raise SystemExit("needs root: ip netns, veth pairs")
    tag = os.getpid() % 100000
    spaces = {
        site: Namespace(f"uplink-{tag}-{i}", f"eu{tag}{i}h", (tag * 4 + i) % 250 + 1)
        for i, site in enumerate(args.sites)
    }
    folder = Path(tempfile.mkdtemp(prefix="bench-uplink-"))
    folder.chmod(0o755)  # mosquitto, dropped to its own user, reads its certificates here
    try:
        run_sites(args, spaces, folder)
    finally:
        if args.keep:
            print(f"logs in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def run_sites(args: argparse.Namespace, spaces: dict[str, Namespace], folder: Path) -> None:
    procs: dict[str, subprocess.Popen] = {}
    brokers: list[subprocess.Popen] = []
    try:
        relayed: set[str] = set()
        for site, ns in spaces.items():
            ns.create()
            if args.shape:
                how = ns.shape(args.shape, args.rtt)
                if how.startswith("tbf") and args.rtt:
                    relayed.add(site)  # no netem: the round trip from bench/delay_relay.py
                    how += f", {args.rtt} ms round trip through a delay relay in the namespace"
                print(f"{ns.name}: shaped with {how}")
        tls = folder / "tls"
        tls.mkdir(mode=0o755)
        ca = make_ca(tls, [ns.host_ip for ns in spaces.values()] + ["127.0.0.1"])
        seconds = args.warmup + args.minutes * 60
        starts, sizes, local = {}, {}, {}
        for site, ns in spaces.items():
            work = folder / site
            work.mkdir()
            local[site] = free_port()
            brokers.append(start_broker(tls, work, ns.host_ip, 8883, local[site]))
            if args.drain:
                sizes[site] = backlog(work / "edged.db", args.drain)
                print(f"{site}: {sizes[site]} records in the outbox")
            broker = f"{ns.host_ip}:8883"
            if site in relayed:
                relay_port = free_port()
                relay = [sys.executable, str(Path(__file__).resolve().parent / "delay_relay.py")]
                relay += ["--listen", f"127.0.0.1:{relay_port}", "--to", broker]
                relay += ["--delay", str(args.rtt / 2000)]
                brokers.append(subprocess.Popen(["ip", "netns", "exec", ns.name, *relay]))
                broker = f"127.0.0.1:{relay_port}"
            starts[site] = ns.counters()
            command = [
                "ip",
                "netns",
                "exec",
                ns.name,
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                site,
                "--dir",
                str(work),
                "--broker",
                broker,
                "--ca",
                str(ca),
                "--seconds",
                str(seconds + 5),
            ]
            if args.payload:
                command += ["--payload", args.payload]
            if args.mode == "frugal":
                command += ["--mode", "frugal", "--batch-interval", str(args.batch_interval)]
                command += ["--keepalive", str(args.keepalive)]
            if args.drain:
                command += ["--alarm-after", str(args.alarm_after or 4.0)]
            log = (work / "daemon.log").open("ab")
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
            procs[site] = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        if args.drain:
            for site, ns in spaces.items():
                drain_report(site, args, ns, starts[site], folder / site, sizes[site], local[site])
            return
        time.sleep(args.warmup)
        counts = {site: TopicCounter(local[site]) for site in spaces}
        warm = {site: ns.counters() for site, ns in spaces.items()}
        time.sleep(args.minutes * 60)
        end = {site: ns.counters() for site, ns in spaces.items()}
        for site in spaces:
            counts[site].stop()
            report(site, args, starts[site], warm[site], end[site], folder / site)
            print(f"  at the broker: {counts[site].summary()}")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for broker in brokers:
            broker.terminate()
            broker.wait(10)
        for ns in spaces.values():
            ns.destroy()


def backlog(db: Path, hours: float) -> int:
    """`hours` of 1-minute records of the MPPT and the BMV in the outbox (a 3G outage)."""
    sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
    from bench_memory import build  # the same stored records bench_memory drains

    return build(db, hours * 3600, 60.0, in_outbox=True)


def drain_report(
    site: str, args, ns: Namespace, start, work: Path, backlog_size: int, port: int
) -> None:
    """Time from the daemon's start until the broker has received every backlog record (read
    with the fleet collector's own decoder), and each alarm's delay from its `since` to its
    arrival at the broker."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from fleet import payloads
    from fleet.items import Record

    launched = time.time()
    alarms: dict[str, tuple[float, dict]] = {}
    history = {"records": 0, "done": 0.0}
    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)

    def on_message(client, userdata, message) -> None:
        if "/alarm/" in message.topic:
            body = json.loads(message.payload)
            if body.get("active") and message.topic not in alarms:
                alarms[message.topic] = (time.time(), body)
        elif "/history/" in message.topic or message.topic.endswith("/batch"):
            items = payloads.parse(message.topic, bytes(message.payload), "edged")
            items = items if isinstance(items, list) else []
            history["records"] += sum(isinstance(i, Record) for i in items)
            if history["records"] >= backlog_size and not history["done"]:
                history["done"] = time.time()

    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    topics = ("alarm/#", "history/#", "batch")
    sub.subscribe([(f"edged/simulation/{topic}", 1) for topic in topics])
    sub.loop_start()
    deadline = time.monotonic() + args.minutes * 60
    try:
        while time.monotonic() < deadline:
            if history["done"] and any("openclinic" in t for t in alarms):
                break
            time.sleep(1)
    finally:
        sub.loop_stop()
    up, down = ns.counters()
    if history["done"]:
        print(
            f"{site}: {backlog_size} backlog records at the broker {history['done'] - launched:.0f}"
            f" s after the daemon's start ({(up - start[0]) / 1e6:.2f} MB up,"
            f" {(down - start[1]) / 1e6:.2f} MB down so far, start-up and live included)"
        )
    else:
        print(f"{site}: NOT drained in {args.minutes:g} min: {history['records']} records arrived")
    for topic, (at, body) in alarms.items():
        print(
            f"{site}: {topic} raised {body['since'] - launched:.1f} s after the start,"
            f" at the broker {at - body['since']:.1f} s later"
        )


class TopicCounter:
    """Messages and payload bytes the site published, by topic kind, read on the broker's
    loopback listener: what the MQTT payloads weigh beside the IP bytes around them."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.kinds: dict[str, list[int]] = {}
        self._ready = time.monotonic() + 1.0  # retained messages replayed at subscribe: skip
        self._client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.subscribe("edged/#", qos=0)
        self._client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        if message.retain and time.monotonic() < self._ready:
            return
        kind = message.topic.split("/")[2] if message.topic.count("/") >= 2 else message.topic
        count = self.kinds.setdefault(kind, [0, 0])
        count[0] += 1
        count[1] += len(message.payload)

    def stop(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()

    def summary(self) -> str:
        parts = [f"{k} {n} msgs {b} B" for k, (n, b) in sorted(self.kinds.items())]
        total = sum(n for n, _ in self.kinds.values()), sum(b for _, b in self.kinds.values())
        return f"{total[0]} messages, {total[1]} B of payload ({'; '.join(parts)})"


def report(site: str, args, start, warm, end, work: Path) -> None:
    up, down = end[0] - warm[0], end[1] - warm[1]
    per_day = (up + down) / args.minutes * 1440
    log = (work / "daemon.log").read_text(errors="replace")
    connected = log.count("MQTT connected")
    print(
        f"{site}: payload={args.payload or 'default'} mode={args.mode or 'live'}:"
        f" warm-up {args.warmup:g} s"
        f" {warm[0] - start[0]} B up / {warm[1] - start[1]} B down; then {args.minutes:g} min:"
        f" {up} B up / {down} B down -> {per_day / 1e6:.3f} MB/day"
        f" ({up / args.minutes * 1440 / 1e6:.3f} up, {down / args.minutes * 1440 / 1e6:.3f} down);"
        f" MQTT connects: {connected}"
    )
    if connected != 1:
        print(f"  warning: {connected} connects; daemon log tail:\n{log[-1500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=6.0, help="measured, after the warm-up")
    parser.add_argument("--warmup", type=float, default=90.0, help="seconds left out")
    parser.add_argument("--payload", choices=("json", "compact"), help="[telemetry] payload")
    sites = ("three", "seven")
    parser.add_argument("--mode", choices=("live", "frugal"), help="[telemetry] mode")
    parser.add_argument("--batch-interval", type=float, default=3600.0, help="s, frugal mode")
    parser.add_argument("--keepalive", type=int, default=1200, help="s, frugal mode")
    parser.add_argument("--sites", nargs="+", default=list(sites), choices=sites)
    parser.add_argument("--shape", help="tc netem rate on the site's way up, e.g. 384kbit")
    parser.add_argument("--rtt", type=int, default=300, help="ms, with --shape")
    parser.add_argument("--drain", type=float, help="hours of backlog to drain (e.g. 72)")
    parser.add_argument("--alarm-after", type=float, help="s, with --drain (default 4)")
    parser.add_argument("--keep", action="store_true", help="keep the folder (logs) and say where")
    parser.add_argument("--child", choices=("three", "seven"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        raise SystemExit(child(args))
    measure(args)


if __name__ == "__main__":
    main()
