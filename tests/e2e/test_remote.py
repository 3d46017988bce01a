"""Remote commands end to end, all real: a technician's client -> mosquitto -> `edged run`
(subprocess, a VE.Direct controller on a pty) -> results on `P/cmd/{name}/result`.

Every command's happy path, then every refusal an attacker or a broken dashboard can cause:
expired, replayed (also across a restart), unsigned, badly signed, not allowed, malformed,
unknown; each answered, counted in the live view, and without any effect on the database.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time

import pytest

from telemetry import commands, topics
from tests.peers import faketime
from tests.peers.commander import Commander, command, signed
from tests.peers.remote_site import ALL, KEY, P, Site
from tests.peers.replay import wait_until
from tests.peers.subscriber import Subscriber


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    remote = f"[remote]\nenabled = true\nkey = {KEY!r}\nallow = {ALL}\n"
    s = Site(tmp_path_factory.mktemp("remote"), remote)
    yield s
    s.close()


@pytest.fixture
def tech(site):
    c = site.commander()
    yield c
    c.stop()


def visits(site: Site) -> int:
    return site.rows("SELECT count(*) FROM maintenance_log")[0][0]


# --- every command's happy path ----------------------------------------------------------------


def test_ping_answers_with_the_request_id(tech):
    result = tech.run("ping")
    assert result["ok"] is True and result["result"]["pong"] is True
    assert abs(result["result"]["ts"] - time.time()) < 60


def test_status_is_the_technicians_status(tech):
    result = tech.run("status")["result"]
    assert result["site"]["id"] == "test-site" and result["daemon"] == "running"
    assert result["mqtt_connected"] is True
    assert "mppt" in {d["device"] for d in result["devices"]}


def test_support_summary_has_no_secret_and_what_a_technician_asks(tech, site):
    body = command()
    tech.publish("support_summary", body)
    [message] = tech.results.wait_for(
        lambda m: m.topic.endswith("/support_summary/result") and body["id"].encode() in m.payload,
        30,
    )
    assert KEY.encode() not in message.payload and b"broker-secret" not in message.payload
    result = json.loads(message.payload)["result"]
    assert result["config"]["remote"]["key"] == "***"
    assert result["config"]["mqtt"]["password"] == "***"
    assert result["config"]["site"]["id"] == "test-site"
    assert result["database"]["schema"] == 8 and "records" in result["database"]["rows"]
    assert result["counters"]["remote"]["received"] >= 1
    assert result["version"]


def test_alarm_ack_by_alarm_id_then_already(tech, site):
    first = tech.run("alarm_ack", {"id": "pibox_disk_full.pibox", "by": "Awa (Bamako)"})
    assert first["ok"] is True and first["result"]["state"] == "acked", first
    [(acked_by,)] = site.rows("SELECT acked_by FROM alarms WHERE alarm_id='pibox_disk_full.pibox'")
    assert acked_by == "Awa (Bamako)"
    again = tech.run("alarm_ack", {"id": "pibox_disk_full.pibox", "by": "Moussa"})
    assert again["ok"] is True and again["result"]["state"] == "already"
    missing = tech.run("alarm_ack", {"id": "battery_soc_low.nothing"})
    assert missing["ok"] is False and missing["error"] == "not_found"
    assert "not found" in missing["message_en"] and "introuvable" in missing["message"]


def test_backup_now_starts_the_job_through_the_power_policy(tech, site):
    result = tech.run("backup_now", {"job": "backup"})
    assert result["ok"] is True and result["result"]["started"] is True, result
    wait_until(lambda: (site.workdir / "backup.done").exists(), 20, what="the backup's file")
    wait_until(
        lambda: site.rows("SELECT trigger, outcome FROM job_runs") == [("manual", "success")],
        20,
        what="the manual run recorded",
    )
    nojob = tech.run("backup_now", {"job": "nope"})
    assert nojob["ok"] is False and nojob["error"] == "bad_args"


def test_report_regenerate_writes_the_month_and_publishes_its_summary(tech, site):
    first = dt.datetime.now(dt.UTC).date().replace(day=1)
    month = (first - dt.timedelta(days=1)).strftime("%Y-%m")
    summary = Subscriber(site.broker.host, site.broker.port, f"{P}/report/{month}").start()
    try:
        result = tech.run("report_regenerate", {"month": month}, timeout=240)
        assert result["ok"] is True, result
        assert f"report-test-site-{month}.pdf" in result["result"]["files"]
        assert (site.workdir / "rep" / f"report-test-site-{month}.html").exists()
        retained = summary.wait_for(lambda m: True, 20)
        assert json.loads(retained[0].payload)
    finally:
        summary.stop()
    current = first.strftime("%Y-%m")
    for bad in (current, "2026-13", 202601, None):
        refused = tech.run("report_regenerate", {"month": bad})
        assert refused["ok"] is False and refused["error"] == "bad_args", (bad, refused)


def test_maintenance_log_records_a_visit_and_checks_it_first(tech, site):
    before = visits(site)
    done = tech.run(
        "maintenance_log",
        {
            "item": "batterie",
            "action": "bornes nettoyées",
            "labour_cost": 5000,
            "date": "2026-11-20",
        },
    )
    assert done["ok"] is True, done
    rows = site.rows("SELECT item, action, labour_cost, currency, date FROM maintenance_log")
    assert rows[-1] == ("batterie", "bornes nettoyées", 5000.0, "FCFA", "2026-11-20")
    bad = (
        {"item": "frigo", "action": "x"},
        {"item": "batterie"},
        {"item": "batterie", "action": "x", "parts_cost": "cher"},
    )
    for args in bad:
        refused = tech.run("maintenance_log", args)
        assert refused["ok"] is False and refused["error"] == "bad_args", refused
    assert visits(site) == before + 1


def test_resend_republishes_stored_records_on_history(tech, site):
    wait_until(lambda: site.rows("SELECT count(*) FROM records")[0][0] >= 3, 30, what="records")
    stored = {ts for (ts,) in site.rows("SELECT ts FROM records WHERE device = 'mppt'")}
    history = Subscriber(site.broker.host, site.broker.port, f"{P}/history/mppt").start()
    try:
        result = tech.run("resend", {"device": "mppt", "from": 0, "to": max(stored) + 1})
        assert result["ok"] is True and result["result"]["complete"] is True, result
        count = result["result"]["records"]
        assert count >= len(stored)
        got = history.wait_for(lambda m: True, 20, count=result["result"]["messages"])
        seen = {s["ts"] for m in got for s in topics.decode_payload(m.payload)["samples"]}
        assert stored <= seen
    finally:
        history.stop()
    nothing = tech.run("resend", {"device": "mppt", "from": 10, "to": 5})
    assert nothing["ok"] is False and nothing["error"] == "bad_args"


# --- refusals: answered, counted, logged, no effect --------------------------------------------


def refused(tech: Commander, name: str, payload, cmd_id, sign: bool = True) -> dict:
    tech.publish(name, payload, sign=sign)
    answer = tech.result(name, cmd_id)
    assert answer["ok"] is False and answer["message"] and answer["message_en"]
    return answer


VISIT = {"item": "batterie", "action": "should never be stored"}


def test_an_expired_command_is_refused_not_run(tech, site):
    before, body = visits(site), command(VISIT, ttl=-3 * 86400)
    assert refused(tech, "maintenance_log", body, body["id"])["error"] == "expired"
    assert visits(site) == before


def test_an_expiry_too_far_ahead_is_refused(tech, site):
    before, body = visits(site), command(VISIT, ttl=30 * 86400)
    assert refused(tech, "maintenance_log", body, body["id"])["error"] == "too_far"
    assert visits(site) == before


def test_a_replayed_id_runs_once(tech, site):
    before, body = visits(site), command({"item": "batterie", "action": "once"})
    tech.publish("maintenance_log", body)
    assert tech.result("maintenance_log", body["id"])["ok"] is True
    tech.publish("maintenance_log", body)
    answers = tech.results.wait_for(
        lambda m: m.topic.endswith("maintenance_log/result") and body["id"].encode() in m.payload,
        30,
        count=2,
    )
    assert json.loads(answers[1].payload)["error"] == "replayed"
    assert visits(site) == before + 1


def test_unsigned_and_badly_signed_commands_are_refused(tech, site):
    before = visits(site)
    body = command(VISIT)
    assert refused(tech, "maintenance_log", body, body["id"], sign=False)["error"] == "unsigned"
    body = signed(command(VISIT), "another-site-key-0123456789")
    assert refused(tech, "maintenance_log", body, body["id"], sign=False)["error"] == (
        "bad_signature"
    )
    tampered = signed(command({"item": "batterie", "action": "a"}), KEY)
    tampered["args"]["action"] = "b"
    assert refused(tech, "maintenance_log", tampered, tampered["id"], sign=False)["error"] == (
        "bad_signature"
    )
    moved = signed(command({}, cmd="ping"), KEY)  # signed for ping, replayed as backup_now
    assert refused(tech, "backup_now", moved, moved["id"], sign=False)["error"] == "malformed"
    assert visits(site) == before


@pytest.mark.parametrize(
    "payload, cmd_id",
    [
        (b"not json", None),
        (b"[1, 2]", None),
        (b'{"id": "x1", "expires": NaN, "args": {}}', None),
        (json.dumps({"expires": 2e9, "args": {}}).encode(), None),
        (json.dumps({"id": "x2", "expires": "tomorrow", "args": {}}).encode(), "x2"),
        (json.dumps({"id": "x3", "expires": 2e9, "args": [], "sig": "0" * 64}).encode(), "x3"),
        (json.dumps({"id": "x4", "expires": 2e9, "args": {}, "rm": "-rf"}).encode(), "x4"),
        (json.dumps({"id": "bad id with spaces", "expires": 2e9}).encode(), None),
        (b"{" * 5000 + b"}" * 5000, None),
    ],
)
def test_malformed_commands_are_answered_malformed(tech, site, payload, cmd_id):
    before = site.rows("SELECT count(*) FROM commands")
    answer = refused(tech, "ping", payload, cmd_id)
    assert answer["error"] in ("malformed", "too_large")
    assert site.rows("SELECT count(*) FROM commands") == before


def test_an_unknown_command_and_an_odd_name_are_answered(tech, site):
    body = command()
    assert refused(tech, "format_disk", body, body["id"])["error"] == "unknown"
    body = command()
    tech.publish("x" * 300, body)
    assert tech.result("_invalid", body["id"])["error"] == "unknown"


def status_json(site: Site) -> dict:
    """`edged status --json` of the site, as a technician on the Pi runs it."""
    argv = [sys.executable, "-m", "edged.cli", "status", "--json", "--config", str(site.config)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_every_refusal_is_answered_counted_by_reason_and_logged(tmp_path):
    """One of each refusal on a fresh site (a key, `resend` not allowed): each answered with its
    reason in French and English, counted by reason in `edged status --json`, the first ones
    logged with their reason and the rest only counted (a flood must not fill the journal)."""
    allow = '["ping", "status", "maintenance_log"]'
    s = Site(tmp_path, f"[remote]\nenabled = true\nkey = {KEY!r}\nallow = {allow}\n")
    tech = s.commander()
    try:
        first = command()
        tech.publish("ping", first)
        assert tech.result("ping", first["id"])["ok"] is True
        wrong_key = signed(command(), "another-site-key-0123456789")
        cases = [  # (topic's name, payload, sign it, the id the answer carries, reason)
            ("status", b"x" * 9000, False, None, "too_large"),
            ("ping", b"not json", False, None, "malformed"),
            ("format_disk", command(), True, None, "unknown"),
            ("ping", command(), False, None, "unsigned"),
            ("ping", wrong_key, False, wrong_key["id"], "bad_signature"),
            ("resend", command({"device": "mppt", "from": 0, "to": 1}), True, None, "not_allowed"),
            ("maintenance_log", command(VISIT, ttl=-3 * 86400), True, None, "expired"),
            ("maintenance_log", command(VISIT, ttl=30 * 86400), True, None, "too_far"),
        ]
        for name, payload, sign, cmd_id, reason in cases:
            if isinstance(payload, dict) and cmd_id is None:
                cmd_id = payload["id"]
            tech.publish(name, payload, sign=sign)
            answer = tech.result(name, cmd_id)
            assert answer["ok"] is False and answer["error"] == reason, (reason, answer)
            fr, en = commands.REASONS[reason]
            assert answer["message"].startswith(fr) and answer["message_en"].startswith(en)
        tech.publish("ping", first)  # the same id again
        again = tech.results.wait_for(lambda m: first["id"].encode() in m.payload, 30, count=2)
        assert json.loads(again[1].payload)["error"] == "replayed"
        reasons = {reason: 1 for *_, reason in cases} | {"replayed": 1}

        def counted() -> dict | None:
            return status_json(s).get("remote")

        wait_until(lambda: (counted() or {}).get("errors") == reasons, 30, what="all counted")
        remote = counted()
        assert remote["received"] == 1 + len(reasons) and remote["ok"] == 1
        assert remote["refused"] == len(reasons) and remote["failed"] == 0
        logs = s.daemon.logs()
        for _, _, _, _, reason in cases[:4]:  # EventLog's burst: 4 lines, then a summary
            assert f"refused: {reason}" in logs, reason
        assert "remote commands refused is flapping" in logs
        assert "refused: replayed" not in logs
        assert visits(s) == 0 and s.rows("SELECT count(*) FROM commands") == [(1,)]
        assert s.daemon.proc.poll() is None
    finally:
        tech.stop()
        s.close()


# --- a site with the defaults: unsigned commands, only the harmless ones ---------------------


def test_defaults_allow_only_harmless_commands(tmp_path):
    s = Site(tmp_path, "[remote]\nenabled = true\n")
    tech = s.commander(key=None)
    try:
        assert tech.run("ping")["ok"] is True
        answer = tech.run("alarm_ack", {"id": "pibox_disk_full.pibox"})
        assert answer["ok"] is False and answer["error"] == "not_allowed"
        [(acked,)] = s.rows("SELECT acked_at FROM alarms")
        assert acked is None
    finally:
        tech.stop()
        s.close()


def test_replay_is_refused_across_a_restart_and_queued_commands_wait_for_the_site(tmp_path):
    s = Site(tmp_path, f"[remote]\nenabled = true\nkey = {KEY!r}\nallow = {ALL}\n")
    tech = s.commander()
    try:
        body = command({"item": "batterie", "action": "before restart"})
        tech.publish("maintenance_log", body)
        assert tech.result("maintenance_log", body["id"])["ok"] is True
        assert s.daemon.terminate() == 0
        # while the site is down: the broker queues them in the site's persistent session
        late = command({"item": "batterie", "action": "expired in the queue"}, ttl=3)
        fresh = command({"item": "batterie", "action": "queued while down"})
        for queued in (body, late, fresh):
            tech.publish("maintenance_log", queued)
        time.sleep(4)  # `late` expires while queued (it is meant to: three days, compressed)
        s.start()
        assert tech.result("maintenance_log", fresh["id"])["ok"] is True
        assert tech.result("maintenance_log", late["id"])["error"] == "expired"
        replays = tech.results.wait_for(lambda m: body["id"].encode() in m.payload, 30, count=2)
        assert json.loads(replays[1].payload)["error"] == "replayed"
        actions = [a for (a,) in s.rows("SELECT action FROM maintenance_log ORDER BY id")]
        assert actions == ["before restart", "queued while down"]
    finally:
        tech.stop()
        s.close()


FAKE_NOW = "2025-06-01 10:00:00"
"""Before edged's first release (edged.clock.EARLIEST_PLAUSIBLE): a clock the daemon cannot
trust whatever the kernel says. A Pi that booted after three days without sun is the same case
(its clock is the time it stopped until NTP syncs); this one needs no control of the kernel."""


def test_with_an_unsynchronised_clock_only_harmless_commands_run(tmp_path):
    env = faketime.environment(tmp_path / "faketime.rc", FAKE_NOW)
    s = Site(tmp_path, f"[remote]\nenabled = true\nkey = {KEY!r}\nallow = {ALL}\n", env=env)
    tech = s.commander()
    try:
        fake = dt.datetime.fromisoformat(FAKE_NOW).replace(tzinfo=dt.UTC).timestamp()
        ttl = fake - time.time() + 600  # fresh on the site's clock: only the clock can refuse
        ping = command(ttl=ttl)
        tech.publish("ping", ping)
        assert tech.result("ping", ping["id"])["ok"] is True
        for name, args in (
            ("alarm_ack", {"id": "pibox_disk_full.pibox", "by": "Awa"}),
            ("maintenance_log", VISIT),
            ("backup_now", {"job": "backup"}),
        ):
            body = command(args, ttl=ttl)
            tech.publish(name, body)
            answer = tech.result(name, body["id"])
            assert answer["ok"] is False and answer["error"] == "clock_unsynced", answer
            assert "synchronised" in answer["message_en"] and "synchronisée" in answer["message"]
        assert s.rows("SELECT acked_at FROM alarms") == [(None,)]
        assert visits(s) == 0 and s.rows("SELECT count(*) FROM job_runs") == [(0,)]
        assert s.rows("SELECT id FROM commands") == [(ping["id"],)]  # the refused: not kept
        assert not (s.workdir / "backup.done").exists()
    finally:
        tech.stop()
        s.close()
