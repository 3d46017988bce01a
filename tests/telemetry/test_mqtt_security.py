"""The publisher's way into a guarded broker, against a real mosquitto: username and password,
TLS with the CA (and without it), a CA file that is missing."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from edged.config.site import TlsConfig
from telemetry.mqtt import Publisher
from tests.peers.broker import Broker, free_port
from tests.peers.subscriber import Subscriber
from tests.telemetry.publisher_peers import (
    Acks,
    add_records,
    make_config,
    wait_until,
)


def port_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
        return True
    except OSError:
        return False


MOSQUITTO_PASSWD = Path("/usr/bin/mosquitto_passwd")
KEEP_USER = "user root\n"
"""Started as root, mosquitto drops to user `mosquitto`, which cannot read pytest's private
tmp_path; this keeps it as the user that started it (ignored when not started as root)."""


@pytest.mark.skipif(not MOSQUITTO_PASSWD.exists(), reason="mosquitto_passwd not installed")
def test_username_and_password(tmp_path, db_path, publishers, caplog):
    passwords = tmp_path / "passwords"
    subprocess.run(
        [str(MOSQUITTO_PASSWD), "-b", "-c", str(passwords), "edged", "s3cret-pw"], check=True
    )
    broker = Broker(tmp_path)
    broker.conf.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {passwords}\npersistence false\n{KEEP_USER}"
    )
    broker.start()
    try:
        caplog.set_level(logging.DEBUG)
        config, root = make_config(broker, username="edged", password="s3cret-pw")
        sub = Subscriber(
            broker.host, broker.port, f"{root}/#", username="edged", password="s3cret-pw"
        )
        sub.start()
        good = publishers(config, db_path, Acks())
        sub.wait_for(lambda m: m.topic == f"{root}/status" and m.payload == b"online")
        assert good.connected

        bad_config, _ = make_config(broker, username="edged", password="wrong-pw")
        bad = publishers(bad_config, db_path, Acks())
        wait_until(lambda: bad.stats["connect_failures"] >= 2, what="refusals")
        assert not bad.connected
        assert "s3cret-pw" not in caplog.text and "wrong-pw" not in caplog.text
        sub.stop()
    finally:
        broker.stop()


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> None:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=edged test CA",
        cwd=directory,
    )
    openssl(
        "req",
        *ec,
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
        cwd=directory,
    )
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        cwd=directory,
    )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_tls_connects_with_the_ca_and_fails_without_it(tmp_path, db_path, publishers):
    make_certificates(tmp_path)
    tls_port = free_port()
    broker = Broker(
        tmp_path,
        extra_conf=f"listener {tls_port} 127.0.0.1\ncafile {tmp_path}/ca.crt\n"
        f"certfile {tmp_path}/server.crt\nkeyfile {tmp_path}/server.key\n{KEEP_USER}",
    )
    broker.start()
    try:
        wait_until(lambda: port_open(broker.host, tls_port), what="TLS listener")
        sub = Subscriber(broker.host, broker.port, "#").start()  # the plain listener
        trusted = TlsConfig(ca_file=str(tmp_path / "ca.crt"))
        config, root = make_config(broker, port=tls_port, tls=trusted)
        publisher = publishers(config, db_path, Acks())
        sub.wait_for(lambda m: m.topic == f"{root}/status" and m.payload == b"online")
        assert publisher.connected

        untrusted_config, _ = make_config(broker, port=tls_port, tls=TlsConfig())
        untrusted = publishers(untrusted_config, db_path, Acks())
        wait_until(lambda: untrusted.stats["connect_failures"] >= 2, what="TLS failures")
        assert not untrusted.connected
        sub.stop()
    finally:
        broker.stop()


def test_a_missing_ca_file_is_logged_not_raised(tmp_path, broker, db, db_path, caplog):
    missing = TlsConfig(ca_file=str(tmp_path / "no-such-ca.crt"))
    config, _ = make_config(broker, tls=missing)
    publisher = Publisher(config, db_path, Acks())
    publisher.start()
    publisher.publish_records(add_records(db, [("mppt", 60.0)]))
    publisher.stop()
    assert not publisher.connected
    assert "cannot be set up" in caplog.text
