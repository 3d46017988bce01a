"""Issue 17's last proof, all real: an alarm acknowledged from the dashboard reaches the site's
database.

One mosquitto (the central broker, MQTT 5) carries both sides. The site is a real `edged run`
(tests.peers.remote_site: a VE.Direct controller on a pty, topic prefix `remote`, a broker
username and password, `[remote]` enabled with `alarm_ack` allowed and a command key, and one
active alarm, `pibox_disk_full.pibox`). The centre is the real collector and `edged-fleet web`
with `--prefix remote` on a PostgreSQL database, the site registered with its key. A technician
logs in in headless Chromium and acknowledges the alarm on the console.

With the right key the site's SQLite `alarms.acked_by` becomes the technician's name and the
console says the site confirmed it. With a key the site does not share, the site refuses
(`bad_signature`), its database is untouched, and the console shows the site's own message
instead of waiting for ever.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.fleet.test_collect import wait_subscribed
from tests.fleet.web import add_user, chromium_available, fleet_cli
from tests.peers.remote_site import ALL, KEY, PREFIX, Site
from tests.peers.replay import wait_until

pytestmark = pytest.mark.skipif(
    not chromium_available(), reason="apt-get install chromium chromium-driver (scripts/test does)"
)
SITE = "test-site"
ALARM = "pibox_disk_full.pibox"
TECH = "awa.traore"
PASSWORD = "correct horse battery"
ROW = f'[data-alarm="{SITE}/{ALARM}"]'


def loop(tmp_path, central, collectors, db, fleet_dsn, dashboards, centre_key: str):
    """The whole loop up and the site's alarm stored at the centre; (site, web)."""
    wait_subscribed(started_with_prefix(collectors, db))
    out = fleet_cli(
        "site",
        SITE,
        "--name",
        "CSCOM de test",
        "--region",
        "Koulikoro",
        "--key-from-env",
        "--dsn",
        fleet_dsn,
        env={"EDGED_FLEET_SITE_KEY": centre_key},
    )
    assert out.returncode == 0, out.stderr
    add_user(fleet_dsn, TECH, PASSWORD)
    workdir = tmp_path / "site"
    workdir.mkdir()
    remote = f"[remote]\nenabled = true\nkey = {KEY!r}\nallow = {ALL}\n"
    site = Site(workdir, remote, broker=central)
    wait_until(
        lambda: db(
            "SELECT 1 FROM alarms WHERE site = %s AND alarm_id = %s AND active", SITE, ALARM
        ),
        60,
        interval=0.5,
        what="the site's alarm at the centre",
    )
    return site, dashboards("--prefix", PREFIX)


def started_with_prefix(collectors, db):
    c = collectors(1, prefix=PREFIX)
    wait_until(lambda: db("SELECT version FROM schema_migrations"), 30, what="schema migrated")
    return c


def acknowledge_on_the_console(chrome, url: str, comment: str) -> None:
    chrome.get(url + "/")
    assert "/login" in chrome.current_url
    chrome.find_element(By.ID, "username").send_keys(TECH)
    chrome.find_element(By.ID, "password").send_keys(PASSWORD)
    chrome.find_element(By.ID, "login-button").click()
    wait_until(lambda: chrome.find_elements(By.ID, "overview"), 30, what="the overview")
    chrome.get(url + "/alarms?filter=unacked")
    row = chrome.find_element(By.CSS_SELECTOR, ROW)
    assert "Disque plein" in row.text
    row.find_element(By.NAME, "comment").send_keys(comment)
    row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(lambda: chrome.find_elements(By.ID, "flash"), 30, what="the acknowledgement page")


def console_row(chrome, url: str) -> str:
    chrome.get(url + "/alarms")
    rows = chrome.find_elements(By.CSS_SELECTOR, ROW)
    return rows[0].text if rows else ""


def site_ack(site: Site) -> list[tuple]:
    return site.rows(f"SELECT acked_by, active FROM alarms WHERE alarm_id = '{ALARM}'")


def test_an_alarm_acknowledged_on_the_page_reaches_the_sites_database(
    tmp_path, central, collectors, db, fleet_dsn, dashboards, chrome
):
    site, web = loop(tmp_path, central, collectors, db, fleet_dsn, dashboards, KEY)
    try:
        assert site_ack(site) == [(None, 1)]
        acknowledge_on_the_console(chrome, web.url, "passage jeudi")
        wait_until(
            lambda: site_ack(site) == [(TECH, 1)], 60, interval=0.5, what="acked_by at the site"
        )
        wait_until(
            lambda: "confirmée par le site" in console_row(chrome, web.url),
            60,
            interval=0.5,
            what="the console saying the site confirmed",
        )
        row = console_row(chrome, web.url)
        assert TECH in row and "passage jeudi" in row and "refusée" not in row, row
        [(command_id,)] = db("SELECT command_id FROM alarm_acks WHERE site = %s", SITE)
        [(ok, state)] = db(
            "SELECT ok, payload->'result'->>'state' FROM command_results WHERE id = %s",
            command_id,
        )
        assert (ok, state) == (True, "acked")
        assert site.rows("SELECT id, ok FROM commands") == [(command_id, 1)]
    finally:
        site.close()


def test_a_refused_acknowledgement_shows_the_sites_message(
    tmp_path, central, collectors, db, fleet_dsn, dashboards, chrome
):
    site, web = loop(
        tmp_path, central, collectors, db, fleet_dsn, dashboards, "not-the-key-of-this-site-42"
    )
    try:
        acknowledge_on_the_console(chrome, web.url, "clé erronée")
        wait_until(
            lambda: "refusée par le site" in console_row(chrome, web.url),
            60,
            interval=0.5,
            what="the console saying the site refused",
        )
        row = console_row(chrome, web.url)
        assert "signature invalide" in row and "en attente" not in row, row
        chrome.get(web.url + "/alarms?lang=en")
        row = chrome.find_element(By.CSS_SELECTOR, ROW).text
        assert "refused by the site" in row and "bad signature" in row, row
        assert site_ack(site) == [(None, 1)]  # nothing reached the site's database
        assert site.rows("SELECT count(*) FROM commands") == [(0,)]
    finally:
        site.close()
