"""The config's problems in French: the common kinds by their wording, the rest as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edged.cli.config_problems import PATTERNS, expected, line
from edged.config.loader import ConfigError, Problem, load, parse

CASES = Path(__file__).resolve().parents[2] / "configs" / "bad"


@pytest.mark.parametrize(
    ("english", "french"),
    [
        ("required key is missing", "clé obligatoire absente"),
        (
            "expected true or false, got a string 'yes'",
            "attendu : true ou false ; trouvé : un texte 'yes'",
        ),
        (
            "expected an integer or a string, got a table {'a': 1}",
            "attendu : un nombre entier ou un texte ; trouvé : une table {'a': 1}",
        ),
        (
            "expected one of gpio, sysfs, got 'i2c'",
            "valeur attendue parmi gpio, sysfs ; trouvé 'i2c'",
        ),
        ("unknown key; expected one of id, name", "clé inconnue ; clés possibles : id, name"),
        (
            "invalid TOML: Expected ']' at the end of a table declaration (at line 1, column 6)",
            "TOML invalide ligne 1, colonne 6 : Expected ']' at the end of a table declaration",
        ),
    ],
)
def test_common_problems_in_french_and_english_untouched(english, french):
    assert expected(english, "fr") == french
    assert expected(english, "en") == english


def test_a_rare_problem_keeps_its_words_and_the_frame_is_french():
    rare = Problem(
        "jobs[0].urgent_min_soc", "job 'nightly': urgent_min_soc must not be above min_soc"
    )
    assert line(rare, "/etc/edged/edged.toml", "fr") == (
        "/etc/edged/edged.toml : jobs[0].urgent_min_soc : job 'nightly': urgent_min_soc must not"
        " be above min_soc"
    )
    assert line(Problem("(file)", "file not found"), "x.toml", "fr") == (
        "x.toml : (fichier) : fichier introuvable"
    )


def test_every_pattern_is_met_by_a_real_problem_of_the_case_folders():
    """No pattern is dead: each one translates at least one problem the validators really say
    in tests/configs/bad (and a missing file, a string for a table, which have no folder)."""
    said = [Problem("(file)", "file not found")]
    with pytest.raises(ConfigError) as table:  # a value where a table belongs
        parse({"site": {"id": "kati"}, "mqtt": {"tls": "yes"}})
    said += table.value.problems
    for case in sorted(CASES.iterdir()):
        try:
            load(str(case / "edged.toml"))
        except ConfigError as exc:
            said += exc.problems
    unused = [
        message
        for pattern, message in PATTERNS
        if not any(pattern.fullmatch(p.expected) for p in said)
    ]
    assert not unused, unused


TYPES = st.sampled_from(["a string", "an integer", "a table", "true or false", "Kati", "'tcp'"])


@given(
    st.one_of(
        st.text(),
        st.builds(lambda a, b, v: f"expected {a}, got {b} {v}", TYPES, TYPES, st.text()),
        st.builds(lambda a, b: f"required for kind {a}{b}", TYPES, st.text()),
        st.builds(lambda a, v: f"expected a {a} or {a}, got {v}", TYPES, st.text()),
    )
)
def test_any_text_gives_a_line_never_an_exception(text):
    """A validator's wording changed or a value full of braces: a line all the same."""
    assert isinstance(expected(text, "fr"), str)
    assert expected(text, "en") == text
