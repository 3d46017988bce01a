"""The four screens of docs/fr/ecrans.md are what `edged status` prints today.

The real daemon on an emulated controller (tests/peers/status_screens.py) in each situation of
the staff guide: the verdict line, at most 12 lines, names not ids, nothing "en service" while
monitoring is stopped; and the committed document, dates and durations aside, is the one the
code produces now (a changed wording fails here until the document is regenerated:
`.venv/bin/python -m tests.peers.status_screens docs/fr/ecrans.md`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peers import status_screens
from tests.peers.broker import mosquitto_binary

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "fr" / "ecrans.md"
HEADLINES = {
    "tout-va-bien": "TOUT VA BIEN — CSCOM de Kati",
    "economiser": "ÉCONOMISER L'ÉNERGIE — CSCOM de Kati",
    "serveur": "APPELER LE TECHNICIEN — CSCOM de Kati",
    "arrete": "SURVEILLANCE ARRÊTÉE — CSCOM de Kati",
}

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed")


@pytest.fixture(scope="module")
def screens(tmp_path_factory) -> list[status_screens.Screen]:
    return status_screens.capture(tmp_path_factory.mktemp("screens"))


def test_each_situation_gives_its_verdict_in_at_most_12_lines(screens):
    assert [s.key for s in screens] == list(HEADLINES)
    for screen in screens:
        lines = screen.text.splitlines()
        assert lines[0] == HEADLINES[screen.key], screen.text
        assert len(lines) <= 12, screen.text
        assert "mppt" not in screen.text and "Régulateur solaire" in screen.text
        assert lines[-1] == "Détails pour le technicien : edged status --details"


def test_what_each_situation_says_to_do_and_whom_to_call(screens):
    by_key = {s.key: s.text for s in screens}
    call = "Appeler : Technicien ANTIM : Moussa Diarra, 76 12 34 56"
    assert "en service" in by_key["tout-va-bien"] and call not in by_key["tout-va-bien"]
    assert "éteindre ce qui ne sert pas aux soins" in by_key["economiser"]
    assert "pour l'acquitter : edged alarms ack " in by_key["economiser"]
    assert "Pas de liaison avec le serveur" in by_key["serveur"] and call in by_key["serveur"]
    stopped = by_key["arrete"]
    assert "La surveillance est arrêtée depuis le " in stopped and call in stopped
    assert "en service" not in stopped and "en charge" not in stopped  # nothing looks live


def test_the_committed_document_is_what_the_code_prints_today(screens):
    committed = DOCUMENT.read_text()
    produced = status_screens.document(screens)
    assert status_screens.normalise(committed) == status_screens.normalise(produced), (
        "docs/fr/ecrans.md is out of date: .venv/bin/python -m tests.peers.status_screens "
        "docs/fr/ecrans.md"
    )
    assert set(status_screens.blocks(committed)) == {s.title for s in screens}


def test_normalise_keeps_the_words_and_drops_only_the_times():
    text = (
        "arrêtée depuis le 5 déc. à 6 h 34 (il y a 2 min).\nAlarme n° 12 : x — edged alarms ack 12"
    )
    assert status_screens.normalise(text) == (
        "arrêtée depuis le <date> (il y a <durée>).\nAlarme n° <n> : x — edged alarms ack <n>"
    )
    assert status_screens.normalise("attendre 10 s") == "attendre 10 s"
