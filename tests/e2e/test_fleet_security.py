"""The central broker's security, tested as an attacker would, all real: mosquitto running the
example config and ACL of docs/broker/ (TLS listener, certificates from a test CA made here with
openssl), accounts made by scripts/fleet-site-credentials, and `edged run` as a site.

Site A cannot publish into site B's topics nor read B's commands; a site cannot publish a
command; a daemon given the wrong CA refuses the broker; with the helper's credentials a real
daemon connects over TLS and answers the dashboard's signed command.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.peers.broker import Broker
from tests.peers.certificates import make_ca
from tests.peers.commander import Commander
from tests.peers.daemon import DaemonProcess, write_config
from tests.peers.energy_pty import EnergyPty
from tests.peers.fleet_broker import HELPER, Fleet
from tests.peers.replay import wait_until
from tests.peers.subscriber import Subscriber

pytestmark = pytest.mark.skipif(
    not (shutil.which("openssl") and shutil.which("mosquitto_passwd")),
    reason="needs openssl and mosquitto_passwd",
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("fleet"))
    yield f
    f.broker.stop()


def publish(client: mqtt.Client, topic: str, payload: bytes) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(10)


def test_the_helper_refuses_bad_ids_and_a_second_run_without_force(fleet, tmp_path):
    passwd = tmp_path / "p"
    for bad in ("Site_A", "a/b", "dashboard", "homeassistant", ""):
        done = subprocess.run([str(HELPER), bad, "--passwd", str(passwd)], capture_output=True)
        assert done.returncode == 2, bad
    again = subprocess.run(
        [
            str(HELPER),
            "site-a",
            "--passwd",
            str(passwd),
            "--out",
            str(fleet.folder / "sites"),
            "--ca",
            str(fleet.ca[0]),
        ],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1 and "--force" in again.stderr
    site = fleet.sites["site-a"]
    assert re.fullmatch(r"[0-9a-f]{64}", site["remote"]["key"])
    assert site["mqtt"]["username"] == "site-a" and len(site["mqtt"]["password"]) >= 24
    assert (fleet.folder / "sites" / "site-a" / "client.crt").exists()


def test_site_a_cannot_publish_into_site_b_topics(fleet):
    watch = fleet.as_dashboard("edged/#")
    a = fleet.client("site-a", fleet.sites["site-a"]["mqtt"]["password"])
    try:
        for topic in (
            "edged/site-b/telemetry/mppt",
            "edged/site-b/status",
            "edged/site-b/alarm/x.y",
            "edged/other/telemetry/x",
            "elsewhere/x",
        ):
            publish(a, topic, b"forged")
        publish(a, "edged/site-a/telemetry/mppt", b"own")  # a barrier: the broker is in order
        watch.wait_for(lambda m: m.topic == "edged/site-a/telemetry/mppt", 10)
        assert [m.topic for m in watch.received()] == ["edged/site-a/telemetry/mppt"]
    finally:
        a.disconnect()
        watch.stop()


def test_site_a_cannot_read_site_b_commands_nor_anything_but_its_own(fleet):
    spy = fleet.as_site("site-a", "edged/#")
    targeted = fleet.as_site("site-a", "edged/site-b/cmd/+")
    dash = fleet.client("dashboard", fleet.dashboard_password)
    try:
        publish(dash, "edged/site-b/cmd/ping", b"for b")
        publish(dash, "edged/site-b/telemetry/x", b"dashboard cannot write data")
        publish(dash, "edged/site-a/cmd/ping", b"for a")
        spy.wait_for(lambda m: m.payload == b"for a", 10)
        assert [m.payload for m in spy.received()] == [b"for a"]
        assert targeted.received() == []
    finally:
        dash.disconnect()
        spy.stop()
        targeted.stop()


def test_a_site_cannot_publish_a_command_even_to_itself(fleet):
    own = fleet.as_site("site-a", "edged/site-a/cmd/+")
    watch = fleet.as_dashboard("edged/#")
    a = fleet.client("site-a", fleet.sites["site-a"]["mqtt"]["password"])
    dash = fleet.client("dashboard", fleet.dashboard_password)
    try:
        publish(a, "edged/site-a/cmd/backup_now", b"from the site")
        publish(a, "edged/site-b/cmd/backup_now", b"from the site")
        publish(dash, "edged/site-a/cmd/ping", b"from the dashboard")
        own.wait_for(lambda m: m.payload == b"from the dashboard", 10)
        watch.wait_for(lambda m: m.payload == b"from the dashboard", 10)
        assert b"from the site" not in [m.payload for m in own.received() + watch.received()]
    finally:
        a.disconnect()
        dash.disconnect()
        own.stop()
        watch.stop()


def test_a_site_using_another_sites_client_id_gets_none_of_its_commands(fleet):
    """Client ids are not tied to accounts: site A may connect under the client id of B's
    persistent session. mosquitto does not resume a session for another user, so neither what
    was queued for B nor what comes after reaches A (it can knock B off: docs/fleet-security.md)."""
    victim = f"edged-site-b-{uuid.uuid4().hex[:8]}"
    b_password, a_password = (fleet.sites[s]["mqtt"]["password"] for s in ("site-b", "site-a"))
    b = Subscriber(
        "127.0.0.1",
        fleet.broker.port,
        "edged/site-b/cmd/+",
        username="site-b",
        password=b_password,
        client_id=victim,
        clean_session=False,
        ca_file=str(fleet.ca[0]),
    ).start()
    b.stop()  # offline: the broker keeps its session and queues its commands
    dash = fleet.client("dashboard", fleet.dashboard_password)
    thief = None
    try:
        publish(dash, "edged/site-b/cmd/backup_now", b"queued for b")
        thief = Subscriber(
            "127.0.0.1",
            fleet.broker.port,
            "edged/site-a/cmd/+",  # its own: the barrier below arrives through it
            username="site-a",
            password=a_password,
            client_id=victim,
            clean_session=False,
            ca_file=str(fleet.ca[0]),
        ).start()
        publish(dash, "edged/site-b/cmd/ping", b"live for b")
        publish(dash, "edged/site-a/cmd/ping", b"barrier for a")
        thief.wait_for(lambda m: m.payload == b"barrier for a", 10)
        assert [m.payload for m in thief.received()] == [b"barrier for a"]
    finally:
        if thief is not None:
            thief.stop()
        dash.disconnect()


def knocked_off(fleet: Fleet, port: int) -> bool:
    """Whether site A, connecting under site B's client id, disconnects B. Not disconnected
    means B still gets its next command (so a broker that silently drops B does not pass)."""
    gone, got = threading.Event(), threading.Event()
    b = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id="edged-site-b",
        clean_session=False,
    )
    b.username_pw_set("site-b", fleet.sites["site-b"]["mqtt"]["password"])
    b.tls_set(ca_certs=str(fleet.ca[0]))
    subscribed = threading.Event()
    b.on_subscribe = lambda *args: subscribed.set()
    b.on_connect = lambda c, *args: c.subscribe("edged/site-b/cmd/+", qos=1)
    b.on_disconnect = lambda *args: gone.set()
    b.on_message = lambda c, u, m: got.set() if m.payload == b"for b" else None
    b.connect("127.0.0.1", port)
    b.loop_start()
    thief = dash = None
    try:
        assert subscribed.wait(10), "site B could not subscribe"
        b.reconnect_delay_set(30, 60)  # knocked off, B stays off while we look
        thief = Subscriber(
            "127.0.0.1",
            port,
            "edged/site-a/cmd/+",
            username="site-a",
            password=fleet.sites["site-a"]["mqtt"]["password"],
            client_id="edged-site-b",
            ca_file=str(fleet.ca[0]),
        ).start()
        dash = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        dash.username_pw_set("dashboard", fleet.dashboard_password)
        dash.tls_set(ca_certs=str(fleet.ca[0]))
        dash.connect("127.0.0.1", port)
        dash.loop_start()
        publish(dash, "edged/site-a/cmd/ping", b"for a")
        thief.wait_for(lambda m: m.payload == b"for a", 10)
        publish(dash, "edged/site-b/cmd/ping", b"for b")
        wait_until(lambda: got.is_set() or gone.is_set(), 20, what="B's command or B gone")
        return gone.is_set()
    finally:
        if thief is not None:
            thief.stop()
        if dash is not None:
            dash.disconnect()
            dash.loop_stop()
        b.disconnect()
        b.loop_stop()


def test_a_site_can_knock_another_off_unless_client_ids_are_the_accounts(fleet, tmp_path):
    """With the example's defaults a site's password lets it take another site's client id,
    which disconnects that site; `use_username_as_clientid true` (commented in the example,
    docs/fleet-security.md) makes each account's client id its name, and the attack moot."""
    assert knocked_off(fleet, fleet.broker.port)
    strict = Broker(tmp_path)
    conf = fleet.broker.conf.read_text().replace(str(fleet.broker.port), str(strict.port))
    assert "#use_username_as_clientid true" in conf
    strict.conf.write_text(conf.replace("#use_username_as_clientid", "use_username_as_clientid"))
    strict.start()
    try:
        assert not knocked_off(fleet, strict.port)
    finally:
        strict.stop()


def test_no_account_no_entry(fleet):
    with pytest.raises(AssertionError, match="could not subscribe"):
        fleet.subscriber("edged/#", "site-a", "wrong password")
    with pytest.raises(AssertionError, match="could not subscribe"):
        fleet.subscriber("edged/#", "intruder", "")


def site_config(fleet: Fleet, folder: Path, site: str, ca: Path, devices: str = "") -> Path:
    creds = fleet.sites[site]
    path = write_config(folder, devices=devices, broker_port=fleet.broker.port)
    text = path.read_text().replace('id = "test-site"', f'id = "{site}"')
    mqtt_lines = (
        f'username = "{site}"\npassword = "{creds["mqtt"]["password"]}"\n'
        f'[mqtt.tls]\nca_file = "{ca}"\n\n'
        f'[remote]\nenabled = true\nkey = "{creds["remote"]["key"]}"\n\n[health]\nenabled = false\n'
    )
    text = text.replace("reconnect_max = 1.0\n", "reconnect_max = 1.0\n" + mqtt_lines)
    path.write_text(text)
    return path


def test_a_site_daemon_over_tls_answers_the_dashboards_signed_command(fleet, tmp_path):
    creds = fleet.sites["site-b"]
    status = fleet.as_dashboard("edged/site-b/status")
    daemon = DaemonProcess(site_config(fleet, tmp_path, "site-b", fleet.ca[0]), tmp_path / "log")
    daemon.start()
    tech = Commander(
        "127.0.0.1",
        fleet.broker.port,
        "edged/site-b",
        creds["remote"]["key"],
        username="dashboard",
        password=fleet.dashboard_password,
        ca_file=str(fleet.ca[0]),
    ).start()
    try:
        status.wait_for(lambda m: m.payload == b"online", 30)
        answer = tech.run("ping")
        assert answer["ok"] is True, answer
        unsigned = Commander(
            "127.0.0.1",
            fleet.broker.port,
            "edged/site-b",
            None,
            username="dashboard",
            password=fleet.dashboard_password,
            ca_file=str(fleet.ca[0]),
        ).start()
        try:
            assert unsigned.run("ping")["error"] == "unsigned"
        finally:
            unsigned.stop()
    finally:
        tech.stop()
        status.stop()
        daemon.stop()


def test_a_site_daemons_data_and_discovery_pass_the_acl_and_a_forgery_does_not(fleet, tmp_path):
    """The ACL is not too strict either: a real site (B) with a device and Home Assistant
    discovery gets its telemetry and its discovery configs, under its own node, to a district's
    Home Assistant account; site A's config forged under B's node never arrives."""
    password = fleet.homeassistant_password
    ha = fleet.subscriber("homeassistant/#", "homeassistant", password)
    data = fleet.subscriber("edged/site-b/telemetry/+", "homeassistant", password)
    a = fleet.client("site-a", fleet.sites["site-a"]["mqtt"]["password"])
    with EnergyPty() as pty:
        device = f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{pty.path}"\n'
        path = site_config(fleet, tmp_path, "site-b", fleet.ca[0], devices=device)
        discovery = "[homeassistant]\ndiscovery = true\n\n[[devices]]"
        path.write_text(path.read_text().replace("[[devices]]", discovery))
        daemon = DaemonProcess(path, tmp_path / "log")
        daemon.start()
        try:
            record = json.loads(data.wait_for(lambda m: True, 60)[0].payload)
            assert record["metrics"]
            own = "homeassistant/sensor/edged-site-b/mppt_battery_voltage/config"
            config = json.loads(ha.wait_for(lambda m: m.topic == own, 30)[0].payload)
            assert config["state_topic"] == "edged/site-b/telemetry/mppt"
            forged = b'{"name": "forged by site A"}'
            publish(a, "homeassistant/sensor/edged-site-b/mppt_forged/config", forged)
            barrier = "homeassistant/sensor/edged-site-a/barrier/config"
            publish(a, barrier, b"{}")  # A's own node: it arrives, after the forgery would
            ha.wait_for(lambda m: m.topic == barrier, 10)
            assert not ha.received(lambda m: m.payload == forged)
            assert daemon.proc.poll() is None
        finally:
            daemon.stop()
            a.disconnect()
            a.loop_stop()
            ha.stop()
            data.stop()


def test_a_daemon_given_the_wrong_ca_refuses_the_broker(fleet, tmp_path):
    wrong, _ = make_ca(tmp_path, "not-antim")
    status = fleet.as_dashboard("edged/site-a/#")
    daemon = DaemonProcess(site_config(fleet, tmp_path, "site-a", wrong), tmp_path / "log")
    daemon.start()
    try:
        wait_until(lambda: "certificate verify failed" in daemon.logs(), 30, what="TLS refusal")
        assert daemon.proc.poll() is None  # it runs on, storing, and keeps retrying
        assert "MQTT connected" not in daemon.logs()
        assert status.received() == []
    finally:
        daemon.stop()
        status.stop()


def test_client_certificates_when_the_broker_requires_them(fleet, tmp_path):
    """The example's `require_certificate` uncommented: the helper's client certificate gets
    the daemon in, a client with the password alone is refused during the handshake."""
    strict = Broker(tmp_path)
    conf = fleet.broker.conf.read_text().replace(str(fleet.broker.port), str(strict.port))
    strict.conf.write_text(conf.replace("#require_certificate true", "require_certificate true"))
    strict.start()
    site = fleet.folder / "sites" / "site-a"
    path = site_config(fleet, tmp_path, "site-a", fleet.ca[0])
    text = path.read_text().replace(str(fleet.broker.port), str(strict.port))
    tls = f'cert_file = "{site / "client.crt"}"\nkey_file = "{site / "client.key"}"\n'
    path.write_text(text.replace("[mqtt.tls]\n", "[mqtt.tls]\n" + tls))
    daemon = DaemonProcess(path, tmp_path / "log")
    try:
        # no certificate: the handshake fails (TLS 1.3 says so just after it, so the
        # connection is dropped before the subscription is acknowledged)
        with pytest.raises((OSError, AssertionError)):
            Subscriber(
                "127.0.0.1",
                strict.port,
                "edged/#",
                username="dashboard",
                password=fleet.dashboard_password,
                ca_file=str(fleet.ca[0]),
            ).start()
        daemon.start()
        wait_until(lambda: "MQTT connected" in daemon.logs(), 30, what="the daemon connected")
    finally:
        daemon.stop()
        strict.stop()
