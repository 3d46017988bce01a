"""`edged status` rendering: French by default, stale data never shown as live."""

from __future__ import annotations

from edged import live
from edged.cli.status import _aged_state, collect, render_json, render_text
from edged.config.loader import parse
from telemetry.store import open_db

CONFIG = parse(
    {
        "site": {"id": "kalaban-coro", "name": "CSCOM de Kalaban Coro", "contact": "Awa, 76 00"},
        "devices": [
            {
                "id": "mppt",
                "name": "Régulateur solaire",
                "driver": "vedirect",
                "port": "/dev/ttyUSB0",
                "stale_after": 10,
                "offline_after": 60,
            },
        ],
    }
)
NOW = 1_800_000_000.0


def status(state: str, age: float, metrics: dict, daemon: str = "running", **extra) -> dict:
    return {
        "site": {"id": "kalaban-coro"},
        "now": NOW,
        "daemon": daemon,
        "mqtt_connected": True,
        **extra,
        "outbox": 3,
        "devices": [
            {
                "device": "mppt",
                "state": state,
                "last_seen": NOW - age,
                "info": {"product": "SmartSolar MPPT 100/20", "serial": "HQ2228VY2QD"},
                "counters": {"accepted": 10, "rejected": 2},
                "latest": {"ts": NOW - age, "clock_synced": False, "metrics": metrics},
            }
        ],
    }


def test_age_overrides_a_stored_ok_when_the_daemon_stopped():
    device = {"device": "mppt", "state": "ok", "last_seen": NOW - 5}
    assert _aged_state(device, CONFIG, NOW) == "ok"
    assert _aged_state({**device, "last_seen": NOW - 30}, CONFIG, NOW) == "stale"
    assert _aged_state({**device, "last_seen": NOW - 600}, CONFIG, NOW) == "offline"
    # a stored offline is never made better by a recent timestamp
    assert _aged_state({**device, "state": "offline"}, CONFIG, NOW) == "offline"
    assert _aged_state({"device": "mppt", "state": None, "last_seen": None}, CONFIG, NOW) == (
        "offline"
    )


def test_french_text_for_clinic_staff():
    metrics = {
        "battery_voltage": 12.065,
        "battery_soc": 83.9,
        "charger_state": "bulk",
        "load_on": 1,
        "day_sequence": 274,
    }
    text = render_text(status("ok", 3, metrics), CONFIG, "fr", details=True)
    assert (
        "Régulateur solaire [mppt] (SmartSolar MPPT 100/20, n° HQ2228VY2QD) : EN LIGNE — vu il y"
        " a 3 s" in text
    )
    assert "Tension batterie" in text and "12,065 V" in text
    assert "83,9 %" in text and "charge rapide" in text and "oui" in text
    assert "(heure non synchronisée)" in text
    assert "En attente d'envoi : 3 enregistrements" in text
    staff = render_text(status("ok", 3, metrics), CONFIG, "fr")
    assert staff.splitlines()[0] == "TOUT VA BIEN — CSCOM de Kalaban Coro"
    assert "Appareils : Régulateur solaire — en service" in staff and "mppt" not in staff
    assert "Batterie : 84 %" in staff and "day_sequence" not in staff


def test_english_and_json():
    text = render_text(status("stale", 30, {"battery_voltage": 12.5}), CONFIG, "en", True)
    assert "STALE — seen 30 sec ago" in text and "12.5 V" in text
    assert '"state": "stale"' in render_json(status("stale", 30, {}), CONFIG)


def test_no_database_yet_is_said_plainly():
    assert "n'a encore rien enregistré" in render_text(None, CONFIG, "fr")


def test_staff_view_says_what_is_wrong_what_to_do_and_whom_to_call():
    down = render_text(status("offline", 600, {}), CONFIG, "fr")
    lines = down.splitlines()
    assert lines[0] == "APPELER LE TECHNICIEN — CSCOM de Kalaban Coro"
    assert "Régulateur solaire ne répond pas (vu il y a 10 min)." in lines
    assert "Appeler : Awa, 76 00" in lines and len(lines) <= 10
    alarm = {
        "id": 7,
        "alarm_id": "battery_soc_low:mppt",
        "rule": "battery_soc_low",
        "severity": "warning",
        "since": NOW - 600,
        "message": "Batterie faible (28 %).",
        "message_en": "Battery low (28 %).",
        "acked_at": None,
    }
    shed = {"shedding": {"level": "warn", "message": "x", "message_en": "x"}, "jobs": []}
    saving = render_text(
        status(
            "ok", 3, {"battery_soc": 28.0, "battery_time_to_go": 600.0}, alarms=[alarm], power=shed
        ),
        CONFIG,
        "fr",
    )
    assert saving.startswith("ÉCONOMISER L'ÉNERGIE — ")
    assert "Batterie : 28 %, tient encore environ 10 h" in saving
    assert "À faire : économiser l'énergie : éteindre" in saving
    assert "Alarme n° 7 : Batterie faible (28 %). — pour l'acquitter : edged alarms ack 7" in saving
    busy = {"jobs": [{"job": "sauvegarde", "kind": "backup", "state": "running", "progress": 45}]}
    text = render_text(status("ok", 3, {}, power=busy), CONFIG, "fr")
    assert text.startswith("NE PAS DÉBRANCHER") and "sauvegarde en cours (45 %)" in text


def test_stopped_daemon_is_said_first_and_no_device_is_online():
    text = render_text(
        status("ok", 3, {}, daemon="stopped", stopped_since=NOW - 7200), CONFIG, "fr"
    )
    assert text.splitlines()[1].startswith("La surveillance est arrêtée depuis le ")
    assert "(il y a 2 h)" in text and "en service" not in text
    details = render_text(status("ok", 3, {}, daemon="stopped"), CONFIG, "fr", details=True)
    assert "EN LIGNE" not in details and "dernières valeurs connues" in details


def test_a_hostile_live_view_device_entry_is_ignored_and_the_rest_shown(tmp_path, caplog):
    db_path, live_path = tmp_path / "edged.db", tmp_path / "run" / "live.json"
    open_db(db_path).close()
    live_path.parent.mkdir()
    config = parse(
        {
            "site": {"id": "kalaban-coro"},
            "storage": {"path": str(db_path), "live_path": str(live_path)},
            "devices": [{"id": "mppt", "driver": "vedirect", "port": "/dev/ttyUSB0"}],
        }
    )
    good = {"device": "mppt", "state": "ok", "last_seen": NOW, "info": {}, "counters": {}}
    hostile = [
        "not an object",
        {"state": "ok"},  # no device id
        {"device": "bms", "state": "exploded", "last_seen": NOW},
        {"device": "gx", "state": "ok", "last_seen": NOW, "counters": "many"},
        {"device": "pack", "state": "ok", "last_seen": [1]},
    ]
    live.write(live_path, {"devices": [*hostile, good]})
    shown = collect(config)
    assert shown is not None and shown["daemon"] == "running"
    assert [d["device"] for d in shown["devices"]] == ["mppt"]
    assert shown["devices"][0]["state"] == "ok"
    ignored = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(ignored) == len(hostile)
