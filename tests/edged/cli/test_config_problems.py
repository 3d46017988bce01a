"""The config's problems in French: the common kinds by their wording, the rest as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edged.cli.config_problems import PATTERNS, expected, line, said
from edged.cli.i18n import N_, tr
from edged.config.loader import ConfigError, Problem, load, parse
from tests.edged.cli.test_french import FIELD, english_only_words, words_shown

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


def test_a_problem_of_no_known_kind_keeps_its_words_and_the_frame_is_french():
    """A validator's new wording, not yet in the catalogue: said as written, never lost."""
    rare = Problem("devices[0].map", "register 0x3100 is listed twice")
    assert line(rare, "/etc/edged/edged.toml", "fr") == (
        "/etc/edged/edged.toml : devices[0].map : register 0x3100 is listed twice"
    )
    assert line(Problem("(file)", "file not found"), "x.toml", "fr") == (
        "x.toml : (fichier) : fichier introuvable"
    )


MORE_PROBLEMS = {
    "site": {"id": "kati"},
    "devices": [
        {"id": "t1", "driver": "epever", "port": "/dev/ttyUSB0", "baudrate": 115200},
        {"id": "t2", "driver": "epever", "port": "/dev/ttyUSB0", "baudrate": 9600, "address": 2},
        {"id": "m", "driver": "vedirect", "port": "ttyUSB0"},
        {"id": "t3", "driver": "epever", "port": "/dev/ttyUSB1", "address": 300},
        {"id": "t4", "driver": "epever", "port": "/dev/ttyUSB2", "map": "/nonexistent/map.toml"},
    ],
    "health": {
        "checks": [{"name": "pibox", "kind": "systemd", "unit": "mariadb.service"}],
        "equipment": [{"item": "glasses", "usb_ids": "abcd:1234"}],
    },
    "alarms": {"battery_soc_low": {"message_fr": "{value"}, "rules": ["x"]},
    "mqtt": {"tls": "yes"},
    "remote": {"allow": "ping"},
    "leds": {"backend": "gpio"},
    "shedding": {"shutdown_soc": 10, "shutdown_voltage": 10.0, "protection_voltage": 10.5},
}
"""The kinds of problem no case folder of tests/configs/bad shows, in one config."""
ONCE_ENGLISH_ONLY = {
    "site": {"id": "kati"},
    "mqtt": {"port": 70000},
    "devices": [{"id": "m", "driver": "vedirect", "port": "/dev/ttyUSB0"}],
    "batteries": [
        {"id": "b", "chemistry": "agm", "nominal_voltage": 12, "capacity_ah": 100},
        {"id": "c", "chemistry": "agm", "nominal_voltage": 12, "capacity_ah": 1, "peukert": 2},
    ],
    "jobs": [
        {"name": "b", "kind": "sync", "command": ["s"], "max_duration": 1, "windows": []},
        {
            "name": "c",
            "kind": "sync",
            "command": ["s"],
            "max_duration": 1,
            "windows": [["06:00", "07:00"]],
            "power_w": 5,
            "min_soc": 50,
            "urgent_min_soc": 60,
            "min_voltage": 12.0,
            "urgent_min_voltage": 12.5,
        },  # two inconsistencies at once: two problems, each translated
    ],
    "equipment": {"glasses": 1},
}
"""Problems the validators said in English only, whatever the reader's language."""


def real_problems() -> list[Problem]:
    """Every problem the validators say for tests/configs/bad, MORE_PROBLEMS, `[[devices]]`
    written as a table, a missing file and a folder given as the file."""
    said = [Problem("(file)", "file not found")]
    with pytest.raises(ConfigError) as unreadable:
        load(str(CASES))
    said += unreadable.value.problems
    for raw in (MORE_PROBLEMS, ONCE_ENGLISH_ONLY, {"site": {"id": "kati"}, "devices": {}}):
        with pytest.raises(ConfigError) as problems:
            parse(raw)
        said += problems.value.problems
    for case in sorted(CASES.iterdir()):
        try:
            load(str(case / "edged.toml"))
        except ConfigError as exc:
            said += exc.problems
    return said


def test_every_pattern_is_met_by_a_real_problem():
    """No pattern is dead: each one translates at least one problem the validators really say."""
    said = real_problems()
    unused = [
        message
        for pattern, message in PATTERNS
        if not any(pattern.fullmatch(p.expected) for p in said)
    ]
    assert not unused, unused


def words_added(text: str) -> set[str] | None:
    """The words the French catalogue puts around a problem's values (key names, choices and
    values are the file's own words, never translated); None when no pattern knows `text`."""
    for pattern, message in PATTERNS:
        if pattern.fullmatch(text):
            return words_shown(FIELD.sub(" ", tr(message, "fr")))
    return None


def test_every_kind_of_problem_the_validators_say_is_said_in_french():
    """Each problem of the case folders and of MORE_PROBLEMS goes through a pattern whose French
    text has no English word in it."""
    english = english_only_words()
    left = [
        (p.path, p.expected)
        for p in real_problems()
        for words in [words_added(p.expected)]
        if words is None or words & english
    ]
    assert not left, "\n".join(map(repr, left))


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


def test_a_pattern_is_its_message_with_the_placeholders_open():
    """The wording is written once: its brackets and dots are text, only `{name}` varies."""
    pattern, message = said(N_("expected a fraction in (0, 1], got {value}"))
    assert message == "expected a fraction in (0, 1], got {value}"
    assert pattern.fullmatch("expected a fraction in (0, 1], got 1.5")["value"] == "1.5"
    assert pattern.fullmatch("expected a fraction in 0, 1, got 1.5") is None
    pattern, _ = said(N_("expected only with {key}"), key=r"\w+")
    assert pattern.fullmatch("expected only with warn_soc")
    assert pattern.fullmatch("expected only with warn soc") is None


def test_the_problems_once_said_in_english_only_have_both_languages():
    with pytest.raises(ConfigError) as problems:
        parse(ONCE_ENGLISH_ONLY)
    said = {p.expected.split(", got")[0] for p in problems.value.problems}
    assert {
        "expected a TCP port 1-65535",
        "expected a Peukert exponent 1.0-1.6",
        'expected a non-empty array of ["HH:MM", "HH:MM"]',
        "expected a list of tables ([[equipment]])",
        "job 'c': urgent_min_soc must not be above min_soc",
        "job 'c': urgent_min_voltage must not be above min_voltage",
    } <= said
    for problem in problems.value.problems:
        assert expected(problem.expected, "en") == problem.expected
        assert expected(problem.expected, "fr") != problem.expected, problem
