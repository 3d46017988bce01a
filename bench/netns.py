"""A network namespace behind a veth pair, its interface byte counters, and a TLS mosquitto on
the host end: what bench_uplink.py measures the uplink through.

Why a namespace: the clinic pays its 3G operator for IP packets (headers, TLS records, TCP ACKs
both ways), which only an interface's counters see; the daemon's only way out is the veth pair.
Needs root (`ip netns`), mosquitto and openssl.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ETH_HEADER = 14
SUBNET = 10, 231


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    def shape(self, rate: str, delay_ms: int) -> str:
        """Shape the site's way up (its end of the pair) to `rate`; with netem, add half the
        round trip each way. Returns what was done: kernels without netem (this machine's)
        get the rate alone through tbf, and the round trip is then the veth's (~0)."""
        site_if = self.host_if[:-1] + "s"
        inside = ("ip", "netns", "exec", self.name, "tc", "qdisc", "add", "dev", site_if, "root")
        half = f"{delay_ms // 2}ms"
        try:
            sh(*inside, "netem", "rate", rate, "delay", half)
            sh("tc", "qdisc", "add", "dev", self.host_if, "root", "netem", "delay", half)
            return f"netem: {rate} up, {delay_ms} ms round trip"
        except subprocess.CalledProcessError:
            sh(*inside, "tbf", "rate", rate, "burst", "4kb", "latency", "2s")
            return f"tbf: {rate} up (no netem in this kernel: no added round trip)"

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
    sh(
        "openssl",
        "req",
        "-x509",
        *key,
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "2",
        "-subj",
        "/CN=bench CA",
    )
    csr = folder / "server.csr"
    sh(
        "openssl",
        "req",
        *key,
        "-keyout",
        str(folder / "server.key"),
        "-out",
        str(csr),
        "-subj",
        "/CN=broker",
    )
    (folder / "ext.cnf").write_text("subjectAltName=" + ",".join(f"IP:{ip}" for ip in ips) + "\n")
    sh(
        "openssl",
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(folder / "server.pem"),
        "-days",
        "2",
        "-extfile",
        str(folder / "ext.cnf"),
    )
    for path in folder.iterdir():  # mosquitto drops to its own user
        path.chmod(0o644)
    return ca


def start_broker(tls: Path, work: Path, ip: str, port: int, local: int) -> subprocess.Popen:
    """One broker per site: both sites are `edged simulate`'s, with the same client id. A plain
    listener on loopback (root namespace) for the bench's own subscriber."""
    conf = work / "mosquitto.conf"
    lines = ["allow_anonymous true", "persistence false", f"listener {local} 127.0.0.1"]
    lines += [f"listener {port} {ip}"]
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
