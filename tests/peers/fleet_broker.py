"""The central broker as ANTIM runs it, for tests: mosquitto with the example config and ACL of
docs/broker/ (a TLS listener with certificates from a throw-away CA), the accounts of two sites
made by scripts/fleet-site-credentials as an administrator would, and a dashboard's and Home
Assistant's accounts."""

from __future__ import annotations

import os
import subprocess
import tomllib
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.peers.broker import Broker
from tests.peers.certificates import make_ca, make_server_cert
from tests.peers.subscriber import Subscriber

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "scripts" / "fleet-site-credentials"
EXAMPLES = ROOT / "docs" / "broker"


def credentials(folder: Path, site: str, passwd: Path, ca: tuple[Path, Path], port: int) -> dict:
    """Run the helper as an administrator would; return the TOML it wrote, parsed."""
    done = subprocess.run(
        [
            str(HELPER),
            site,
            "--passwd",
            str(passwd),
            "--out",
            str(folder),
            "--ca",
            str(ca[0]),
            "--ca-key",
            str(ca[1]),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = folder / site / "edged-site.toml"
    assert oct(written.stat().st_mode & 0o777) == "0o600"
    text = written.read_text()
    assert text not in done.stdout + done.stderr  # nothing secret printed
    return tomllib.loads(text)


class Fleet:
    """A central broker from the example files, three sites' accounts and a dashboard's."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        certs = folder / "certs"
        certs.mkdir()
        self.ca = make_ca(certs, "ca")
        make_server_cert(certs, self.ca, "broker")
        self.broker = Broker(folder)
        conf = (EXAMPLES / "mosquitto-edged.conf").read_text()
        conf = conf.replace("/etc/mosquitto/", f"{folder}/").replace(
            "listener 8883", f"listener {self.broker.port} 127.0.0.1"
        )
        (folder / "edged.acl").write_text((EXAMPLES / "edged.acl").read_text())
        if os.geteuid() == 0:  # mosquitto started as root drops to `mosquitto` unless told
            conf += "\nuser root\n"
        self.broker.conf.write_text(conf)
        passwd = folder / "edged.passwd"
        self.sites = {
            s: credentials(folder / "sites", s, passwd, self.ca, self.broker.port)
            for s in ("site-a", "site-b")
        }
        self.dashboard_password = uuid.uuid4().hex
        self.homeassistant_password = uuid.uuid4().hex
        for user, password in (
            ("dashboard", self.dashboard_password),
            ("homeassistant", self.homeassistant_password),
        ):
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
        self.broker.start()

    def subscriber(self, topic: str, user: str, password: str) -> Subscriber:
        return Subscriber(
            "127.0.0.1",
            self.broker.port,
            topic,
            username=user,
            password=password,
            ca_file=str(self.ca[0]),
        ).start()

    def as_site(self, site: str, topic: str) -> Subscriber:
        return self.subscriber(topic, site, self.sites[site]["mqtt"]["password"])

    def as_dashboard(self, topic: str) -> Subscriber:
        return self.subscriber(topic, "dashboard", self.dashboard_password)

    def client(self, user: str, password: str) -> mqtt.Client:
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        c.username_pw_set(user, password)
        c.tls_set(ca_certs=str(self.ca[0]))
        c.connect("127.0.0.1", self.broker.port)
        c.loop_start()
        return c
