"""The printed card (docs/fr/voyants.md) and docs/leds.md say what the code shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from edged.indicators import texts
from edged.indicators.patterns import PATTERNS, Condition, Light, Pattern

DOCS = Path(__file__).resolve().parents[3] / "docs"


def card_rows() -> dict[str, str]:
    """First cell -> the row, for the table rows of the French card."""
    lines = (DOCS / "fr" / "voyants.md").read_text().splitlines()
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| Voyants")]
    return {line.split("|")[1].strip(): line for line in rows}


@pytest.mark.parametrize("condition", list(Condition))
def test_the_french_card_has_each_pattern_with_its_meaning(condition):
    shown = PATTERNS[condition]
    if condition is Condition.CRITICAL:  # the card shows it as heard before acknowledging
        shown = Pattern(shown.green, shown.amber, shown.red, Light.BEEP)
    rows = card_rows()
    described = texts.describe(shown)
    assert described in rows, f"docs/fr/voyants.md lacks a row for {described!r}"
    assert texts.meaning(condition) in rows[described]


def test_the_card_has_no_pattern_the_code_does_not_show():
    assert len(card_rows()) == len(Condition)


def test_docs_leds_names_every_condition_in_english():
    doc = (DOCS / "leds.md").read_text()
    for condition, shown in PATTERNS.items():
        assert texts.describe(shown, "en") in doc, condition
