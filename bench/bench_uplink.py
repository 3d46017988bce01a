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
power policy) but for the broker and `--payload`. Both sites run at once, each in its own
namespace. The first `--warmup` seconds (connect, retained states, first records) are left out
and reported apart; the rest is extrapolated to a day.

Needs root (`ip netns`), mosquitto and openssl. Cleans up its namespaces and links on exit.

    .venv/bin/python bench/bench_uplink.py --minutes 6 [--payload json|compact]
        [--sites three seven] [--shape 384kbit --rtt 300]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ETH_HEADER = 14
SUBNET = 10, 231


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@dataclass
class Namespace:
    """A network namespace joined to the root one by a veth pair: host end `.1`, site end `.2`."""

    name: str
    host_if: str
    net: int

    @property
    def host_ip(self) -> str:
        return f"{SUBNET[0]}.{SUBNET[1]}.{self.net}.1"

    @property
    def site_ip(self) -> str:
        return f"{SUBNET[0]}.{SUBNET[1]}.{self.net}.2"

    def create(self) -> None:
        site_if = self.host_if[:-1] + "s"
        sh("ip", "netns", "add", self.name)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", site_if)
        sh("ip", "link", "set", site_if, "netns", self.name)
        for prefix, iface in (((), self.host_if), (("ip", "netns", "exec", self.name), site_if)):
            sh(*prefix, "sysctl", "-q", "-w", f"net.ipv6.conf.{iface}.disable_ipv6=1")
        sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        inside = ("ip", "netns", "exec", self.name, "ip")
        sh(*inside, "addr", "add", f"{self.site_ip}/30", "dev", site_if)
        sh(*inside, "link", "set", site_if, "up")
        sh(*inside, "link", "set", "lo", "up")  # the GX simulator listens on 127.0.0.1
        # static neighbours: no ARP on the counters
        host_mac = Path(f"/sys/class/net/{self.host_if}/address").read_text().strip()
        site_mac = subprocess.run(
            [*inside[:-1], "cat", f"/sys/class/net/{site_if}/address"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        sh("ip", "neigh", "replace", self.site_ip, "lladdr", site_mac, "dev", self.host_if)
        sh(*inside, "neigh", "replace", self.host_ip, "lladdr", host_mac, "dev", site_if)

    def shape(self, rate: str, delay_ms: int) -> None:
        """Shape the site's way up (its end of the pair) and add half the round trip each way."""
        site_if = self.host_if[:-1] + "s"
        half = f"{delay_ms // 2}ms"
        sh("ip", "netns", "exec", self.name, "tc", "qdisc", "add", "dev", site_if, "root",
           "netem", "rate", rate, "delay", half)  # fmt: skip
        sh("tc", "qdisc", "add", "dev", self.host_if, "root", "netem", "delay", half)

    def counters(self) -> tuple[int, int]:
        """IP bytes (up = from the site, down = to the site) through the pair so far."""
        stats = Path(f"/sys/class/net/{self.host_if}/statistics")

        def read(name: str) -> int:
            return int((stats / name).read_text())

        up = read("rx_bytes") - ETH_HEADER * read("rx_packets")
        down = read("tx_bytes") - ETH_HEADER * read("tx_packets")
        return up, down

    def destroy(self) -> None:
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def make_ca(folder: Path, ips: list[str]) -> Path:
    """A throwaway CA and one server certificate valid for `ips`; returns the CA file."""
    ca_key, ca = folder / "ca.key", folder / "ca.pem"
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    sh("openssl", "req", "-x509", *key, "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
       "-subj", "/CN=bench CA")  # fmt: skip
    csr = folder / "server.csr"
    sh("openssl", "req", *key, "-keyout", str(folder / "server.key"), "-out", str(csr),
       "-subj", "/CN=broker")  # fmt: skip
    (folder / "ext.cnf").write_text("subjectAltName=" + ",".join(f"IP:{ip}" for ip in ips) + "\n")
    sh("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
       "-CAcreateserial", "-out", str(folder / "server.pem"), "-days", "2",
       "-extfile", str(folder / "ext.cnf"))  # fmt: skip
    for path in folder.iterdir():  # mosquitto drops to its own user
        path.chmod(0o644)
    return ca


def start_broker(tls: Path, work: Path, ip: str, port: int) -> subprocess.Popen:
    """One broker per site: both sites are `edged simulate`'s, with the same client id."""
    conf = work / "mosquitto.conf"
    lines = ["allow_anonymous true", "persistence false", f"listener {port} {ip}"]
    lines += [f"cafile {tls / 'ca.pem'}", f"certfile {tls / 'server.pem'}"]
    lines += [f"keyfile {tls / 'server.key'}"]
    conf.write_text("\n".join(lines) + "\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    log = (work / "mosquitto.log").open("ab")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
    time.sleep(1.0)
    if proc.poll() is not None:
        raise SystemExit(f"mosquitto did not start: {(work / 'mosquitto.log').read_text()}")
    return proc


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
        if args.payload:
            text = text.replace("[telemetry]\n", f'[telemetry]\npayload = "{args.payload}"\n')
        text += f'\n[mqtt.tls]\nca_file = "{args.ca}"\n'
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
        for ns in spaces.values():
            ns.create()
            if args.shape:
                ns.shape(args.shape, args.rtt)
        tls = folder / "tls"
        tls.mkdir(mode=0o755)
        ca = make_ca(tls, [ns.host_ip for ns in spaces.values()])
        seconds = args.warmup + args.minutes * 60
        starts = {}
        for site, ns in spaces.items():
            work = folder / site
            work.mkdir()
            brokers.append(start_broker(tls, work, ns.host_ip, 8883))
            starts[site] = ns.counters()
            command = [
                "ip", "netns", "exec", ns.name, sys.executable, str(Path(__file__).resolve()),
                "--child", site, "--dir", str(work), "--broker", f"{ns.host_ip}:8883",
                "--ca", str(ca), "--seconds", str(seconds + 5),
            ]  # fmt: skip
            if args.payload:
                command += ["--payload", args.payload]
            log = (work / "daemon.log").open("ab")
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
            procs[site] = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        time.sleep(args.warmup)
        warm = {site: ns.counters() for site, ns in spaces.items()}
        time.sleep(args.minutes * 60)
        end = {site: ns.counters() for site, ns in spaces.items()}
        for site in spaces:
            report(site, args, starts[site], warm[site], end[site], folder / site)
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


def report(site: str, args, start, warm, end, work: Path) -> None:
    up, down = end[0] - warm[0], end[1] - warm[1]
    per_day = (up + down) / args.minutes * 1440
    log = (work / "daemon.log").read_text(errors="replace")
    connected = log.count("MQTT connected")
    print(
        f"{site}: payload={args.payload or 'default'}: warm-up {args.warmup:g} s"
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
    parser.add_argument("--sites", nargs="+", default=list(sites), choices=sites)
    parser.add_argument("--shape", help="tc netem rate on the site's way up, e.g. 384kbit")
    parser.add_argument("--rtt", type=int, default=300, help="ms, with --shape")
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
