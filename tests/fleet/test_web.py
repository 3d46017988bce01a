"""`edged-fleet web` over HTTP against real peers (PostgreSQL filled by the real collector,
mosquitto): nothing readable without a session, forms refused without their CSRF token, and
hostile requests (SQL-ish, huge, malformed) refused cleanly, counted, with the server still up."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.fleet.publisher import Publisher
from tests.fleet.test_collect import counter, record, started, wait_subscribed
from tests.fleet.web import Client, add_user, fleet_cli
from tests.peers.replay import wait_until

PASSWORD = "correct horse battery"


@pytest.fixture
def filled(collectors, db, central, fleet_dsn):
    """Two sites' messages through the real collector; an account `tech1`."""
    c = started(collectors, db)
    wait_subscribed(c)
    pub = Publisher(central.host, central.port)

    now = int(time.time()) // 60 * 60
    pub.publish([(f"edged/{s}/status", b"online") for s in ("kati", "sikasso-2")], retain=True)
    pub.publish(
        [("edged/kati/telemetry/bms", record(now - 60 * i, 80 - i)) for i in range(5)]
        + [("edged/sikasso-2/telemetry/bms", record(now - 60, 40))]
    )
    wait_until(lambda: counter(db, "records_inserted") >= 6, 60, what="records stored")
    add_user(fleet_dsn, "tech1", PASSWORD)
    pub.now = now  # the minute those records end at: a test sending them again must use it
    yield pub
    pub.close()


def test_nothing_is_readable_without_a_session(filled, dashboards):
    web = dashboards()
    anonymous = Client(web.url)
    for path in ("/", "/alarms", "/site/kati", "/?region=x"):
        reply = anonymous.request(path)
        assert reply.status == 302 and reply.location.startswith("/login"), (path, reply)
        assert "<table" not in reply.body and "80 %" not in reply.body
    assert anonymous.request("/series/kati?days=7").status == 401
    assert anonymous.request("/alarms/ack", {"site": "kati", "alarm": "x"}).status == 401

    wrong = Client(web.url)
    reply = wrong.login("tech1", "not the password")
    assert reply.status == 401 and "incorrect" in reply.body
    assert wrong.request("/").status == 302

    tech = Client(web.url)
    reply = tech.login("tech1", PASSWORD)
    assert reply.status == 302
    page = tech.request("/")
    assert page.status == 200 and "kati" in page.body and "sikasso-2" in page.body
    series = json.loads(tech.request("/series/kati?days=7").body)
    assert len(series["t"]) == 7 * 24 * 4 and sum(v is not None for v in series["battery_soc"])

    # logging out ends the session on the server, not only in the browser
    cookie = next(c for c in tech.jar if c.name == "edged_session")
    tech.request("/logout", {"csrf": tech.csrf("/")})
    replay = Client(web.url)
    replay.jar.set_cookie(cookie)
    assert replay.request("/").status == 302


def test_hostile_requests_are_refused_cleanly_and_counted(filled, dashboards, db):
    web = dashboards()
    tech = Client(web.url)
    assert tech.login("tech1", PASSWORD).status == 302

    # forms without the session's token
    assert (
        tech.request("/alarms/ack", {"site": "kati", "alarm": "a", "csrf": "forged"}).status == 403
    )
    assert tech.request("/alarms/ack", {"site": "kati", "alarm": "a"}).status == 403
    assert tech.request("/logout", {"csrf": ""}).status == 403
    login = Client(web.url)
    assert (
        login.request("/login", {"csrf": "x", "username": "tech1", "password": PASSWORD}).status
        == 403
    )

    # SQL-ish parameters: plain values to the database, nothing leaks, nothing breaks
    sqlish = "kati' OR '1'='1"
    reply = tech.request("/?region=" + "x%27%3B%20DROP%20TABLE%20sites%3B--")
    assert reply.status == 200 and "kati" not in reply.body  # no site in that region
    assert tech.request("/site/" + "kati%27%20OR%20%271%27%3D%271").status == 404
    assert tech.request("/series/kati?days=7%20OR%201=1").status == 400
    csrf = tech.csrf("/alarms")
    reply = tech.request("/alarms/ack", {"site": sqlish, "alarm": "x' --", "csrf": csrf})
    assert reply.status == 404
    assert db("SELECT count(*) FROM sites") == [(2,)]

    # huge and malformed
    assert tech.request("/?region=" + "r" * 5000).status == 400
    assert tech.request("/site/" + "s" * 5000).status == 404
    assert tech.request("/?region=a%00b").status == 400
    big = tech.request("/alarms/ack", raw=b"csrf=" + b"a" * 200_000)
    assert big.status in (400, 413), big.status
    reply = tech.request(
        "/alarms/ack", {"site": "kati", "alarm": "a", "comment": "c" * 600, "csrf": csrf}
    )
    assert reply.status == 400
    assert tech.request("/site/kati%00").status == 404

    # still serving, and every refusal counted
    assert tech.request("/").status == 200
    refused = dict(db("SELECT name, value FROM counters WHERE name LIKE 'web_refused_%'"))
    assert refused.get("web_refused_csrf", 0) >= 4, refused
    assert refused.get("web_refused_bad_param", 0) >= 6, refused
    assert "refused" in web.logs() and "Traceback" not in web.logs()


def test_user_add_refuses_weak_passwords_and_bad_names(fleet_dsn, db):
    out = fleet_cli("user", "add", "tech1", "--dsn", fleet_dsn, stdin="short\n")
    assert out.returncode == 2 and "password" in out.stderr
    out = fleet_cli("user", "add", "bad name;--", "--dsn", fleet_dsn, stdin=PASSWORD + "\n")
    assert out.returncode == 2 and "username" in out.stderr
    add_user(fleet_dsn, "tech1", PASSWORD)
    ((stored,),) = db("SELECT password_hash FROM users WHERE username = 'tech1'")
    assert stored.startswith("scrypt$") and PASSWORD not in stored


def test_daily_aggregates_count_each_record_once(filled, db):
    """The overview's completeness and PV come from `device_daily`, added to on ingest from the
    rows really inserted: a redelivered record must not count twice."""
    now = filled.now  # not a new minute: a minute turning since would make them new records
    filled.publish([("edged/kati/telemetry/bms", record(now - 60 * i, 80 - i)) for i in range(5)])
    filled.publish([("edged/kati/telemetry/bms", record(now - 600, 70))])  # one new record
    wait_until(lambda: counter(db, "records_received") >= 12, 60, what="redelivery processed")
    total = db("SELECT sum(records), sum(soc_n) FROM device_daily WHERE site = 'kati'")
    assert total == [(6, 6)]
    assert db("SELECT count(*) FROM records WHERE site = 'kati'") == [(6,)]


def alarm(active: bool, since: float, cleared: float | None = None) -> bytes:
    body = {
        "active": active,
        "severity": "critical",
        "since": since,
        "rule": "battery_soc_low",
        "subject": "bms",
        "message": "Batterie faible",
        "message_en": "Battery low",
    }
    if cleared is not None:
        body["cleared"] = cleared
    return json.dumps(body).encode()


def test_time_to_clear_and_a_refused_acknowledgement(filled, dashboards, db, fleet_dsn):
    """Through the real collector: a raise and its clear give Koulikoro's time to clear; an
    acknowledgement the site refuses says so, in the site's own words, in the page's language."""
    for site, region in (("kati", "Koulikoro"), ("sikasso-2", "Sikasso")):
        assert fleet_cli("site", site, "--region", region, "--dsn", fleet_dsn).returncode == 0
    now = int(time.time())  # whole seconds: the 3 h below is exact
    topic = "edged/kati/alarm/battery_soc_low.bms"
    filled.publish([(topic, alarm(True, now - 5 * 3600))])
    filled.publish([(topic, alarm(False, now - 5 * 3600, now - 2 * 3600))])
    filled.publish([("edged/sikasso-2/alarm/battery_soc_low.bms", alarm(True, now - 600))])
    wait_until(lambda: counter(db, "alarm_messages") >= 3, 30, what="alarms stored")

    web = dashboards()
    tech = Client(web.url)
    assert tech.login("tech1", PASSWORD).status == 302
    csrf = tech.csrf("/alarms")
    reply = tech.request(
        "/alarms/ack",
        {"site": "sikasso-2", "alarm": "battery_soc_low.bms", "comment": "", "csrf": csrf},
    )
    assert reply.status == 302
    ((command_id,),) = db("SELECT command_id FROM alarm_acks WHERE site = 'sikasso-2'")
    assert command_id
    result = {
        "id": command_id,
        "ok": False,
        "error": "not_found",
        "message": "aucune alarme active 'battery_soc_low.bms'",
        "message_en": "no active alarm 'battery_soc_low.bms'",
    }
    filled.publish([("edged/sikasso-2/cmd/alarm_ack/result", json.dumps(result).encode())])
    wait_until(lambda: db("SELECT ok FROM command_results"), 30, what="result stored")

    page = tech.request("/alarms").body
    assert "refusée par le site" in page and "aucune alarme active" in page
    table = page.split('id="time-to-clear"')[1]
    kati_row = table.split('data-region="Koulikoro"')[1].split("</tr>")[0]
    # raised 1, cleared 1, median and longest 3 h, none still active
    assert [c.split("</td>")[0] for c in kati_row.split("<td>")[1:]] == [
        "Koulikoro",
        "1",
        "1",
        "3 h",
        "3 h",
        "0",
        "0",  # no visit logged
        "—",
    ]
    sikasso_row = table.split('data-region="Sikasso"')[1].split("</tr>")[0]
    assert "<td>1</td><td>0</td><td>—</td><td>—</td><td>1</td>" in sikasso_row
    english = tech.request("/alarms?lang=en").body
    assert "refused by the site" in english and "no active alarm" in english
    assert "1 raised, 1 cleared" in tech.request("/site/kati").body  # English kept (cookie)
    assert "1 déclenchées, 1 levées" in tech.request("/site/kati?lang=fr").body


def test_monthly_summaries_show_the_cost_recovery_and_survive_odd_values(filled, dashboards, db):
    """The daemon's summary (the shape of maintenance/report/mqtt_summary.py) in columns; a month
    whose values are not numbers shows them as unknown, keys the page does not know as sent."""
    summary = {
        "site": "kati",
        "month": "2026-10",
        "completeness_pct": 96.4,
        "notes": ["2 jours sans données"],
        "pv_kwh": 41.23,
        "load_kwh": 35.5,
        "days_not_full": 3,
        "efc": 18.4,
        "soc_min": 22,
        "alarms": 5,
        "alarms_open": 1,
        "contribution": 15000,
        "currency": "XOF",
        "cost_recovery_pct": 62.5,
    }
    odd = {
        "month": "2026-09",
        "cost_recovery_pct": "<script>alert(1)</script>",
        "pv_kwh": True,
        "notes": "not a list",
        "efc": {"nested": 1},
        "new_figure": 7,
    }
    filled.publish(
        [
            ("edged/kati/report/2026-10", json.dumps(summary).encode()),
            ("edged/kati/report/2026-09", json.dumps(odd).encode()),
        ],
        retain=True,
    )
    wait_until(lambda: len(db("SELECT 1 FROM reports")) == 2, 30, what="summaries stored")
    web = dashboards()
    tech = Client(web.url)
    assert tech.login("tech1", PASSWORD).status == 302
    page = tech.request("/site/kati").body
    october = page.split('data-month="2026-10"')[1].split("</tr>")[0]
    for shown in ("96 %", "41.2", "35.5", "18.4", "22 %", "5 (1 ouvertes)", "15000 XOF"):
        assert shown in october, (shown, october)
    assert '<td class="cost-recovery">62 %</td>' in october  # '%.0f': 62.5 rounds to even
    assert "2 jours sans données" in october
    september = page.split('data-month="2026-09"')[1].split("</tr>")[0]
    assert '<td class="cost-recovery"><span class="unknown">—</span></td>' in september
    assert "<script>" not in page and "new_figure: 7" in september
    assert "nested" not in september and "not a list" not in september
    assert "Cost recovery" in tech.request("/site/kati?lang=en").body


def test_a_visit_is_logged_against_an_alarm_and_bad_dates_are_refused(filled, dashboards, db):
    now = int(time.time())
    filled.publish([("edged/kati/alarm/battery_soc_low.bms", alarm(True, now - 2 * 86400))])
    wait_until(lambda: counter(db, "alarm_messages") >= 1, 30, what="alarm stored")
    web = dashboards()
    tech = Client(web.url)
    assert tech.login("tech1", PASSWORD).status == 302
    csrf = tech.csrf("/alarms")
    raised = datetime.fromtimestamp(now - 2 * 86400, UTC).date()
    form = {"site": "kati", "alarm": "battery_soc_low.bms", "note": "", "csrf": csrf}
    for bad in (
        {"visited_on": (raised - timedelta(days=1)).isoformat()},  # before the raise
        {"visited_on": (datetime.now(UTC).date() + timedelta(days=2)).isoformat()},  # future
        {"visited_on": "2026-02-30"},
        {"visited_on": "1 OR 1=1"},
        {"visited_on": raised.isoformat(), "note": "n" * 600},
        {"visited_on": raised.isoformat(), "alarm": "nothing.here"},
    ):
        status = tech.request("/alarms/visit", {**form, **bad}).status
        assert status in (400, 404), (bad, status)
    assert tech.request("/alarms/visit", {**form, "csrf": "x"}).status == 403
    assert not db("SELECT 1 FROM alarm_visits")

    visit_day = raised + timedelta(days=1)
    reply = tech.request(
        "/alarms/visit", {**form, "visited_on": visit_day.isoformat(), "note": "batterie testée"}
    )
    assert reply.status == 302 and reply.location.endswith("?done=visit")
    assert db("SELECT by_user, visited_on, note FROM alarm_visits") == [
        ("tech1", visit_day, "batterie testée")
    ]
    page = tech.request("/alarms").body
    assert f"visite le {visit_day.isoformat()} (tech1)" in page and "batterie testée" in page
    row = page.split('id="time-to-clear"')[1].split("</tr>")[1]
    assert row.endswith("<td>1</td><td>1</td><td>1 j</td>")  # still active, visited, 1 day
    assert "Traceback" not in web.logs()


def test_the_live_button_publishes_the_live_command_and_refuses_other_durations(
    filled, dashboards, central
):
    from tests.peers.subscriber import Subscriber

    web = dashboards()
    tech = Client(web.url)
    assert tech.login("tech1", PASSWORD).status == 302
    commands_seen = Subscriber(central.host, central.port, "edged/kati/cmd/live").start()
    try:
        csrf = tech.csrf("/site/kati")
        assert tech.request("/site/kati/live", {"minutes": "15"}).status == 403  # no token
        for hostile in ("-5", "1e9", "14", "", "15; DROP"):
            reply = tech.request("/site/kati/live", {"minutes": hostile, "csrf": csrf})
            assert reply.status == 400, hostile
        assert tech.request("/site/nowhere/live", {"minutes": "15", "csrf": csrf}).status == 404
        reply = tech.request("/site/kati/live", {"minutes": "15", "csrf": csrf})
        assert reply.status == 302
        [message] = commands_seen.wait_for(lambda m: True, 20)
        body = json.loads(message.payload)
        assert body["args"] == {"minutes": 15} and body["expires"] > time.time()
        assert "sig" not in body  # the site has no key here: unsigned, the site decides
    finally:
        commands_seen.stop()
