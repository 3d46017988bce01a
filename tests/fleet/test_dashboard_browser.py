"""What a technician sees, in headless Chromium (Debian's `chromium` + `chromium-driver`)
against `edged-fleet web` on real peers: PostgreSQL filled by the real collector from a real
mosquitto. Login is required; a site going silent comes to the top of the overview; an alarm
acknowledged from the page publishes the signed `alarm_ack` command to the site and shows as
pending until the site's result confirms it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from selenium.webdriver.common.by import By

from tests.fleet.publisher import Publisher
from tests.fleet.test_collect import counter, record, started, wait_subscribed
from tests.fleet.web import add_user, chromium_available, fleet_cli
from tests.peers.replay import wait_until

pytestmark = pytest.mark.skipif(
    not chromium_available(), reason="apt-get install chromium chromium-driver (scripts/test does)"
)
PASSWORD = "correct horse battery"
SITE_KEY = "kati-secret-key-for-tests"


@pytest.fixture
def fleet(collectors, db, central, fleet_dsn):
    c = started(collectors, db)
    wait_subscribed(c)
    pub = Publisher(central.host, central.port)
    add_user(fleet_dsn, "tech1", PASSWORD)
    yield pub
    pub.close()


def log_in(chrome, url: str) -> None:
    chrome.get(url + "/")
    assert "/login" in chrome.current_url, "the overview asked for a login"
    assert not chrome.find_elements(By.ID, "overview")
    chrome.find_element(By.ID, "username").send_keys("tech1")
    chrome.find_element(By.ID, "password").send_keys(PASSWORD)
    chrome.find_element(By.ID, "login-button").click()
    wait_until(lambda: chrome.find_elements(By.ID, "overview"), 30, what="the overview")


def overview_rows(chrome, url: str) -> list[tuple[str, str]]:
    chrome.get(url + "/")
    rows = chrome.find_elements(By.CSS_SELECTOR, "#overview tbody tr")
    return [
        (r.get_attribute("data-site"), r.find_element(By.CLASS_NAME, "state").text) for r in rows
    ]


def test_a_site_going_silent_comes_first_on_the_overview(fleet, db, dashboards, chrome):
    web = dashboards("--silent-after", "6", "--watch-interval", "1")
    stop = threading.Event()

    def keep_alive(site: str) -> None:  # a site that keeps publishing its one-minute records
        while not stop.is_set():
            fleet.publish([(f"edged/{site}/telemetry/bms", record(time.time(), 70))])
            stop.wait(1)

    fleet.publish([("edged/aaa-quiet/status", b"online"), ("edged/bbb-alive/status", b"online")])
    fleet.publish([("edged/aaa-quiet/telemetry/bms", record(time.time(), 55))])
    alive = threading.Thread(target=keep_alive, args=("bbb-alive",), daemon=True)
    alive.start()
    try:
        wait_until(lambda: len(db("SELECT site FROM sites")) == 2, 30, what="both sites stored")
        log_in(chrome, web.url)
        rows = overview_rows(chrome, web.url)
        assert {site for site, _ in rows} == {"aaa-quiet", "bbb-alive"}
        # aaa-quiet says nothing more: the centre raises its no-data alarm and puts it first
        wait_until(
            lambda: db(
                "SELECT 1 FROM alarms WHERE site = 'aaa-quiet' AND alarm_id ="
                " 'centre_no_data.site' AND active"
            ),
            60,
            interval=0.5,
            what="the centre's no-data alarm",
        )
        rows = overview_rows(chrome, web.url)
        assert rows[0][0] == "aaa-quiet" and "muet" in rows[0][1], rows
        first = chrome.find_element(By.CSS_SELECTOR, "#overview tbody tr")
        assert "crit" in first.get_attribute("class")
        # it speaks again: the alarm clears
        fleet.publish([("edged/aaa-quiet/telemetry/bms", record(time.time(), 56))])
        wait_until(
            lambda: db(
                "SELECT 1 FROM alarms WHERE site = 'aaa-quiet' AND alarm_id ="
                " 'centre_no_data.site' AND NOT active"
            ),
            60,
            interval=0.5,
            what="the no-data alarm cleared",
        )
    finally:
        stop.set()
        alive.join(10)


class CommandListener:
    """A test subscriber on the central broker: what the site would receive."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.messages: list[tuple[str, dict]] = []
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"test-site-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.on_message = lambda _c, _u, m: self.messages.append(
            (m.topic, json.loads(m.payload))
        )
        self.client.connect(host, port)
        self.client.loop_start()
        assert subscribed.wait(10), "listener not subscribed"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_acknowledging_from_the_page_publishes_the_signed_command(
    fleet, db, central, fleet_dsn, dashboards, chrome
):
    out = fleet_cli(
        "site",
        "kati",
        "--name",
        "CSCOM Kati",
        "--region",
        "Koulikoro",
        "--key-from-env",
        "--dsn",
        fleet_dsn,
        env={"EDGED_FLEET_SITE_KEY": SITE_KEY},
    )
    assert out.returncode == 0, out.stderr
    since = int(time.time()) - 3600
    alarm = {
        "active": True,
        "severity": "critical",
        "since": since,
        "rule": "battery_soc_low",
        "subject": "bms",
        "message": "Batterie faible",
        "message_en": "Battery low",
        "value": 18,
    }
    fleet.publish(
        [("edged/kati/alarm/battery_soc_low.bms", json.dumps(alarm).encode())], retain=True
    )
    wait_until(lambda: counter(db, "alarm_messages") >= 1, 30, what="alarm stored")
    listener = CommandListener(central.host, central.port, "edged/kati/cmd/#")
    web = dashboards()
    try:
        log_in(chrome, web.url)
        chrome.get(web.url + "/alarms?filter=unacked")
        row = chrome.find_element(By.CSS_SELECTOR, '[data-alarm="kati/battery_soc_low.bms"]')
        assert "Batterie faible" in row.text
        row.find_element(By.NAME, "comment").send_keys("visite prévue demain")
        before = time.time()
        row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_until(lambda: listener.messages, 30, what="the alarm_ack command at the site")
        topic, command = listener.messages[0]
        assert topic == "edged/kati/cmd/alarm_ack"
        assert set(command) == {"id", "expires", "args", "sig"}
        assert str(uuid.UUID(command["id"])) == command["id"]
        assert command["args"] == {"id": "battery_soc_low.bms", "by": "tech1"}
        # under the sites' default [remote] max_ttl (1 day), or a site refuses it too_far
        assert before + 23 * 3600 - 1 <= command["expires"] < time.time() + 86400 - 3600 + 1
        body = {k: v for k, v in command.items() if k != "sig"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        assert command["sig"] == hmac.new(SITE_KEY.encode(), canonical, hashlib.sha256).hexdigest()

        wait_until(lambda: chrome.find_elements(By.ID, "flash"), 30, what="the ack page")
        row = chrome.find_element(By.CSS_SELECTOR, '[data-alarm="kati/battery_soc_low.bms"]')
        assert "tech1" in row.text and "visite prévue demain" in row.text
        assert "en attente" in row.text  # pending: the site has not answered
        chrome.get(web.url + "/alarms?filter=unacked")
        assert not chrome.find_elements(By.CSS_SELECTOR, '[data-alarm="kati/battery_soc_low.bms"]')
        ((by, comment, command_id),) = db("SELECT by_user, comment, command_id FROM alarm_acks")
        assert (by, comment, command_id) == ("tech1", "visite prévue demain", command["id"])
        assert db("SELECT active FROM alarms WHERE site = 'kati'") == [(True,)]  # ack != clear

        # the site answers: the collector stores the result and the page says confirmed
        result = {"id": command["id"], "ok": True, "result": {"acked": True}}
        fleet.publish([("edged/kati/cmd/alarm_ack/result", json.dumps(result).encode())])
        wait_until(lambda: db("SELECT ok FROM command_results"), 30, what="result stored")
        chrome.get(web.url + "/alarms")
        row = chrome.find_element(By.CSS_SELECTOR, '[data-alarm="kati/battery_soc_low.bms"]')
        assert "confirmée par le site" in row.text
        assert not db("SELECT topic, reason FROM rejects")  # the command's own echo is ignored
    finally:
        listener.close()


def test_site_page_draws_its_charts_and_speaks_english(fleet, db, dashboards, chrome):
    now = int(time.time()) // 60 * 60
    fleet.publish([("edged/kati/telemetry/bms", record(now - 60 * i, 60)) for i in range(3)])
    wait_until(lambda: counter(db, "records_inserted") >= 3, 30, what="records")
    web = dashboards()
    log_in(chrome, web.url)
    chrome.get(web.url + "/site/kati?lang=en")
    wait_until(
        lambda: chrome.find_element(By.ID, "charts").get_attribute("data-drawn") == "7",
        30,
        what="charts drawn",
    )
    assert len(chrome.find_elements(By.CSS_SELECTOR, "#charts canvas")) == 3
    assert "Devices" in chrome.page_source and "Appareils" not in chrome.page_source
    legends = [e.text for e in chrome.find_elements(By.CSS_SELECTOR, "#charts .u-legend")]
    assert "Time (UTC)" in legends[0] and "Load" in legends[2], legends
    chrome.get(web.url + "/site/kati?lang=fr")
    wait_until(
        lambda: chrome.find_element(By.ID, "charts").get_attribute("data-drawn") == "7",
        30,
        what="charts drawn in French",
    )
    legends = [e.text for e in chrome.find_elements(By.CSS_SELECTOR, "#charts .u-legend")]
    assert "Heure (UTC)" in legends[0] and "Consommation" in legends[2], legends
    chrome.get(web.url + "/site/kati?lang=en")
    chrome.get(web.url + "/")  # the language is kept (cookie)
    assert "Last backup" in chrome.page_source
