"""`edged status` rendering: French by default, stale data never shown as live."""

from __future__ import annotations

from edged.cli.status import _aged_state, render_json, render_text
from edged.config.loader import parse

CONFIG = parse(
    {
        "site": {"id": "kalaban-coro", "name": "CSCOM de Kalaban Coro"},
        "devices": [
            {
                "id": "mppt",
                "driver": "vedirect",
                "port": "/dev/ttyUSB0",
                "stale_after": 10,
                "offline_after": 60,
            },
        ],
    }
)
NOW = 1_800_000_000.0


def status(state: str, age: float, metrics: dict) -> dict:
    return {
        "site": {"id": "kalaban-coro"},
        "now": NOW,
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
    text = render_text(status("ok", 3, metrics), CONFIG, "fr")
    assert (
        "Appareil mppt (SmartSolar MPPT 100/20, n° HQ2228VY2QD) : EN LIGNE — vu il y a 3 s" in text
    )
    assert "Tension batterie" in text and "12,065 V" in text
    assert "83,9 %" in text and "charge rapide" in text and "oui" in text
    assert "(heure non synchronisée)" in text
    assert "En attente d'envoi : 3 enregistrements" in text
    assert "day_sequence" not in text  # details only on request
    assert "day_sequence" in render_text(status("ok", 3, metrics), CONFIG, "fr", details=True)


def test_english_and_json():
    text = render_text(status("stale", 30, {"battery_voltage": 12.5}), CONFIG, "en")
    assert "STALE — seen 30 s ago" in text and "12.5 V" in text
    assert '"state": "stale"' in render_json(status("stale", 30, {}), CONFIG)


def test_no_database_yet_is_said_plainly():
    assert "n'a encore rien enregistré" in render_text(None, CONFIG, "fr")
