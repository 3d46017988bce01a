"""The config's problems (`check-config`, and every command that reads the config) in the
reader's language.

The validators (`edged.config`) say each problem in English with its key path: the daemon's
journal is read by technicians and stays English. Here the common kinds of problem (a missing
or unknown key, a wrong type, a value not among the choices, a number out of range) are
recognised by their wording and said again from the catalogue; a rarer one keeps its English
text (docs/configuration.md says which). The key path and the value are never translated: they
are what to look for in the file.
"""

from __future__ import annotations

import re

from edged.cli.i18n import N_, tr
from edged.config.loader import ConfigError, Problem

FILE = N_("(file)")
"""The key path of a problem with the whole file (not found, unreadable, not TOML)."""
_TYPES = "a string|an integer|a number|true or false|a boolean|an array|a table"
TYPE_NAMES = {
    "a string": N_("a string"),
    "an integer": N_("an integer"),
    "a number": N_("a number"),
    "true or false": N_("true or false"),
    "a boolean": N_("true or false"),
    "an array": N_("an array"),
    "a table": N_("a table"),
}
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), message)
    for pattern, message in (
        (r"file not found", N_("file not found")),
        (r"required key is missing", N_("required key is missing")),
        (r"required table is missing", N_("required table is missing")),
        (r"unknown key; expected one of (?P<names>.+)", N_("unknown key; expected one of {names}")),
        (r"unknown key", N_("unknown key")),
        (r"expected one of (?P<names>.+), got (?P<value>.+)",
         N_("expected one of {names}, got {value}")),
        (r"expected one of (?P<names>.+)", N_("expected one of {names}")),
        (r"expected a positive number, got (?P<value>.+)",
         N_("expected a positive number, got {value}")),
        (rf"expected (?P<expected>{_TYPES})(?: or (?P<other>{_TYPES}))?, got (?P<kind>{_TYPES})"
         r" (?P<value>.+)", N_("expected {expected}, got {kind} {value}")),
        (rf"expected (?P<expected>{_TYPES}), got (?P<kind>{_TYPES})",
         N_("expected {expected}, got {kind}")),
        (r"expected a state of charge 0-100 \(%\), got (?P<value>.+)",
         N_("expected a state of charge 0-100 (%), got {value}")),
        (r"expected only (?P<chars>\[\S+\]) characters, got (?P<value>.+)",
         N_("expected only {chars} characters, got {value}")),
        (r"expected the id of a \[\[devices\]\] entry, got (?P<value>.+)",
         N_("expected the id of a [[devices]] entry, got {value}")),
        (r"expected an IANA time zone such as Africa/Bamako, got (?P<value>.+)",
         N_("expected an IANA time zone such as Africa/Bamako, got {value}")),
        (r"invalid TOML: (?P<detail>.+) \(at line (?P<line>\d+), column (?P<column>\d+)\)",
         N_("invalid TOML at line {line}, column {column}: {detail}")),
    )
)  # fmt: skip


def expected(text: str, lang: str) -> str:
    """One problem's text (after its key path) in `lang`; English when not a known kind."""
    if lang == "en":
        return text
    for pattern, message in PATTERNS:
        found = pattern.fullmatch(text)
        if found is None:
            continue
        values = {k: v for k, v in found.groupdict().items() if v is not None}
        for key in ("expected", "kind"):
            if key in values:
                values[key] = tr(TYPE_NAMES[values[key]], lang)
        if "other" in values:
            other = tr(TYPE_NAMES[values.pop("other")], lang)
            values["expected"] = tr("{one} or {other}", lang, one=values["expected"], other=other)
        return tr(message, lang, **values)
    return text


def line(problem: Problem, source: str, lang: str) -> str:
    """`FILE: KEY: what was expected`, with the language's colon."""
    colon = tr(":", lang)
    path = tr(FILE, lang) if problem.path == FILE else problem.path
    return f"{source}{colon} {path}{colon} {expected(problem.expected, lang)}"


def report(exc: ConfigError, lang: str) -> str:
    """Every problem of `exc`, one line each."""
    return "\n".join(line(p, exc.source, lang) for p in exc.problems)
