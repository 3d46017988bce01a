"""The dashboard's pieces on their own: texts in both languages, command signing, passwords,
the collector's reading of command results, daily aggregates counted once, no-data alarms."""

from __future__ import annotations

import hashlib
import hmac
import json
import string
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from fleet import accounts, commands, queries
from fleet.items import CommandResult, Ignored, Rejected
from fleet.payloads import parse
from fleet.schema import migrate
from fleet.texts import TEXTS, ago, text
from fleet.watch import WatchSettings, sweep


def test_every_text_exists_in_french_and_english_with_the_same_placeholders():
    fmt = string.Formatter()
    for key, (fr, en) in TEXTS.items():
        assert fr and en, key
        fields = [[f for _, f, _, _ in fmt.parse(s) if f is not None] for s in (fr, en)]
        assert fields[0] == fields[1], key
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert ago(now - timedelta(minutes=5), "fr", now) == "il y a 5 min"
    assert ago(now - timedelta(days=3), "en", now) == "3 d ago"
    assert text("acked_by", "en", "tech1", "now") == "acknowledged by tech1 now"


def test_a_command_is_signed_over_its_canonical_json_without_sig():
    cmd = commands.build({"id": "battery_soc_low.bms", "by": "adama"}, "k3y", 3600, now=1000.0)
    assert cmd["expires"] == 4600 and set(cmd) == {"id", "expires", "args", "sig"}
    # written out by hand: keys sorted at every level, no spaces
    body = (
        '{"args":{"by":"adama","id":"battery_soc_low.bms"},"expires":4600,"id":"' + cmd["id"] + '"}'
    ).encode()
    assert cmd["sig"] == hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert "sig" not in commands.build({}, None, 60)  # no key: unsigned, the site decides
    assert commands.topic("edged/", "kati", "alarm_ack") == "edged/kati/cmd/alarm_ack"


def test_passwords_are_salted_scrypt_and_checked_in_constant_form():
    stored = accounts.hash_password("correct horse battery")
    assert stored != accounts.hash_password("correct horse battery")  # salted
    assert accounts.check_password("correct horse battery", stored)
    assert not accounts.check_password("correct horse batterY", stored)
    assert not accounts.check_password("x", "scrypt$garbage")
    with pytest.raises(accounts.AccountError):
        accounts.hash_password("short")


def test_command_results_are_read_and_the_centres_own_commands_ignored():
    body = json.dumps({"id": "abc", "ok": False, "error": "unknown alarm"}).encode()
    (item,) = parse("edged/kati/cmd/alarm_ack/result", body, "edged")
    assert item == CommandResult("kati", "alarm_ack", "abc", False, json.loads(body))
    assert isinstance(parse("edged/kati/cmd/alarm_ack", b"{}", "edged"), Ignored)
    for topic, payload in [
        ("edged/kati/cmd/alarm_ack/other", body),
        ("edged/kati/cmd/alarm_ack/result", b'{"ok":true}'),
        ("edged/kati/cmd/alarm_ack/result", b'{"id":"' + b"x" * 200 + b'"}'),
        ("edged/kati/cmd/alarm_ack/result", b"[1]"),
    ]:
        assert isinstance(parse(topic, payload, "edged"), Rejected), (topic, payload)


@pytest.fixture
def conn(fleet_dsn):
    with psycopg.connect(fleet_dsn, autocommit=True) as c:
        migrate(c)
        yield c


def test_no_data_alarms_raise_and_clear_once(conn):
    conn.execute(
        "INSERT INTO sites (site, last_seen) VALUES ('quiet', now() - interval '10 minutes'),"
        " ('alive', now())"
    )
    conn.execute(
        "INSERT INTO site_latest (site, device, ts, metrics, synced, received_at) VALUES"
        " ('alive', 'bms', now(), '{}', true, now()),"
        " ('alive', 'mppt', now(), '{}', true, now() - interval '1 hour'),"
        " ('quiet', 'bms', now(), '{}', true, now() - interval '1 hour')"
    )
    settings = WatchSettings(site_after_s=240, device_after_s=600)
    assert sweep(conn, settings) and sweep(conn, settings)  # twice: no second raise
    active = conn.execute(
        "SELECT site, alarm_id, severity FROM alarms WHERE active AND origin = 'centre'"
        " ORDER BY 1, 2"
    ).fetchall()
    assert active == [
        ("alive", "centre_no_data.mppt", "warning"),
        ("quiet", "centre_no_data.site", "critical"),
    ]  # no device alarm for a silent site: the site alarm says it
    assert conn.execute("SELECT count(*) FROM alarm_history").fetchone() == (2,)
    conn.execute("UPDATE sites SET last_seen = now()")
    conn.execute("UPDATE site_latest SET received_at = now()")
    sweep(conn, settings)
    assert not conn.execute("SELECT 1 FROM alarms WHERE active").fetchall()
    assert conn.execute("SELECT count(*) FROM alarm_history WHERE NOT active").fetchone() == (2,)


def test_time_to_clear_pairs_each_raise_with_its_own_clear(conn):
    conn.execute(
        "INSERT INTO site_info (site, region) VALUES ('kati', 'Koulikoro'), ('siby', 'Koulikoro'),"
        " ('san', 'Ségou')"
    )
    h = (
        "INSERT INTO alarm_history (site, alarm_id, active, at, payload)"
        " VALUES (%s, %s, %s, now() - %s, '{}')"
    )
    for row in [
        ("kati", "soc.bms", True, timedelta(days=3)),  # raised, cleared 2 h later
        ("kati", "soc.bms", False, timedelta(days=3, hours=-2)),
        ("kati", "soc.bms", True, timedelta(days=1)),  # raised again, cleared 10 h later
        ("kati", "soc.bms", False, timedelta(hours=14)),
        ("siby", "centre_no_data.site", True, timedelta(days=2)),  # raised twice, one clear:
        ("siby", "centre_no_data.site", True, timedelta(days=1)),  # the first has none of its own
        ("siby", "centre_no_data.site", False, timedelta(hours=20)),  # 4 h after the second
        ("san", "soc.bms", True, timedelta(hours=5)),  # still active
        ("san", "old.bms", True, timedelta(days=40)),  # raised before the window: not counted
        ("san", "old.bms", False, timedelta(days=10)),
    ]:
        conn.execute(h, row)
    by_region = {r["key"]: r for r in queries.time_to_clear(conn, by="region")}
    assert {k: (r["raised"], r["cleared"]) for k, r in by_region.items()} == {
        "Koulikoro": (4, 3),
        "Ségou": (1, 0),
    }
    assert by_region["Koulikoro"]["median_s"] == pytest.approx(4 * 3600, abs=1)
    assert by_region["Koulikoro"]["max_s"] == pytest.approx(10 * 3600, abs=1)
    assert by_region["Ségou"]["median_s"] is None
    (kati,) = queries.time_to_clear(conn, by="site", site_id="kati")
    assert (kati["key"], kati["raised"], kati["cleared"]) == ("kati", 2, 2)
    assert kati["median_s"] == pytest.approx(6 * 3600, abs=1)
    assert queries.time_to_clear(conn, by="site", site_id="nowhere") == []


def test_time_to_visit_counts_days_from_the_raise_to_the_first_visit(conn):
    conn.execute("INSERT INTO site_info (site, region) VALUES ('kati', 'Koulikoro')")
    conn.execute(
        "INSERT INTO alarms (site, alarm_id, active, at, since, payload) VALUES"
        " ('kati', 'soc.bms', true, now() - interval '3 days', now() - interval '3 days', '{}')"
    )
    ((since,),) = conn.execute("SELECT since FROM alarms").fetchall()
    conn.execute(
        "INSERT INTO alarm_history (site, alarm_id, active, at, payload)"
        " VALUES ('kati', 'soc.bms', true, %s, '{}')",
        (since,),
    )
    alarm = queries.alarm_for_ack(conn, "kati", "soc.bms")
    first, later = since.astimezone(UTC).date() + timedelta(days=2), datetime.now(UTC).date()
    assert queries.record_visit(conn, alarm, later, "tech2", "")
    assert queries.record_visit(conn, alarm, first, "tech1", "fusible changé")
    assert not queries.record_visit(conn, alarm, first, "tech1", "again")  # one per day
    (row,) = queries.time_to_clear(conn, by="region")
    assert (row["visited"], row["median_visit_days"]) == (1, 2)  # the first visit counts
    (listed,) = queries.alarm_list(conn)
    assert (listed["visited_on"], listed["visit_by"], listed["visit_note"]) == (
        first,
        "tech1",
        "fusible changé",
    )
