"""The config's problems (`check-config`, and every command that reads the config) in the
reader's language.

The validators (`edged.config`) say each problem in English with its key path: the daemon's
journal is read by technicians and stays English. Here every kind of problem the validators
say (a missing or unknown key, a wrong type, a value not among the choices, a number out of
range, the cross-checks between keys) is recognised by its wording and said again from the
catalogue; a wording not known here yet keeps its English text rather than being lost. The key
path and the value are never translated: they are what to look for in the file.
"""

from __future__ import annotations

import re

from edged.cli.i18n import N_, tr
from edged.config.loader import ConfigError, Problem

FILE = N_("(file)")
"""The key path of a problem with the whole file (not found, unreadable, not TOML)."""
_FIELD = re.compile(r"\{(\w+)\}")
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


def said(message: str, **groups: str) -> tuple[re.Pattern[str], str]:
    """The pattern that recognises a validator's English `message` with its placeholders filled
    in (each `{name}` any text, or `groups[name]`), beside the message the catalogue translates:
    the wording is written once."""
    parts, at = [], 0
    for found in _FIELD.finditer(message):
        parts.append(re.escape(message[at : found.start()]))
        parts.append(f"(?P<{found[1]}>{groups.get(found[1], '.+')})")
        at = found.end()
    parts.append(re.escape(message[at:]))
    return re.compile("".join(parts)), message


PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    said(N_("file not found")),
    said(N_("cannot read: {reason}")),
    said(N_("required key is missing")),
    said(N_("required table is missing")),
    said(N_("unknown key; expected one of {names}")),
    said(N_("unknown key")),
    said(N_("expected one of {names}, got {value}")),
    said(N_("expected one of {names}")),
    said(N_("expected a positive number, got {value}")),
    (
        re.compile(
            rf"expected (?P<expected>{_TYPES})(?: or (?P<other>{_TYPES}))?,"
            rf" got (?P<kind>{_TYPES}) (?P<value>.+)"
        ),
        N_("expected {expected}, got {kind} {value}"),
    ),
    said(N_("expected {expected}, got {kind}"), expected=_TYPES, kind=_TYPES),
    said(N_("expected a state of charge 0-100 (%), got {value}")),
    said(N_("expected only {chars} characters, got {value}"), chars=r"\[\S+\]"),
    said(N_("expected the id of a [[devices]] entry, got {value}")),
    said(N_("expected an IANA time zone such as Africa/Bamako, got {value}")),
    said(N_("expected a number of seconds >= 0, got {value}")),
    said(N_("expected a number >= 0, got {value}")),
    said(N_("expected a number >= 0")),
    said(N_("expected a number > 0")),
    said(N_("expected a fraction in (0, 1], got {value}")),
    said(N_("expected 12, 24 or 48, got {value}")),
    said(N_("expected a day 1-28, got {value}")),
    said(N_("expected a TCP port 1-65535, got {value}")),
    said(N_("expected a Peukert exponent 1.0-1.6, got {value}")),
    said(N_('expected a non-empty array of ["HH:MM", "HH:MM"], got {value}')),
    said(N_("expected a date (YYYY-MM-DD)")),
    said(N_("expected only with {key}"), key=r"\w+"),
    said(N_("expected exactly one of {first} and {second}"), first=r"\w+", second=r"\w+"),
    said(N_("expected either {first} or {second}, not both"), first=r"\w+", second=r"\w+"),
    said(N_("expected above {key} ({limit}), got {value}"), key=r"\w+", limit=r"[^)]+"),
    said(N_("expected more than {key} ({limit}), got {value}"), key=r"\w+", limit=r"[^)]+"),
    said(N_("expected at most {key} ({limit}), got {value}"), key=r"\w+", limit=r"[^)]+"),
    said(N_("expected a unique job name, {value} is used twice")),
    said(N_("expected a unique bank id, {value} is used twice")),
    said(N_("expected a unique, non-empty name")),
    said(N_("expected a new rule id, {value} exists")),
    said(N_("expected an id no device has, {value} is a device")),
    said(N_("expected the id of a [[devices]] or [[batteries]] entry, got {value}")),
    said(N_("expected a GPIO pin name such as GPIO17 or BOARD11, got {value}")),
    said(N_("required for kind {choice}"), choice=r"'\w+'"),
    said(N_("expected an array of non-empty strings, got {value}")),
    said(N_("expected a non-empty array (argv, no shell), got {value}")),
    said(N_("expected systemd unit names, got {value}")),
    said(N_('expected ["HH:MM", "HH:MM"], two different times 00:00-24:00, got {value}')),
    said(N_("expected [start, end] hours 0-24, got {value}")),
    said(N_("expected below {key} ({limit}), got {value}"), key=r"\w+", limit=r"[^)]+"),
    said(N_("expected placeholders among {names}, got {value}")),
    said(N_("expected device.metric or health.component.value (patterns allowed: *), got {value}")),
    said(N_("expected only with condition {first} or {second}"), first=r"\w+", second=r"\w+"),
    said(
        N_(
            "expected no load: {device} ({driver}) reports its battery current net of its"
            " load output already"
        ),
        driver=r"\w+",
    ),
    said(
        N_(
            'expected monitor = "<device id>" (measured SOC) or controller = "<device id>"'
            " (estimated SOC)"
        )
    ),
    said(N_("expected only with controller (an estimated bank)")),
    said(N_("expected a device no other bank uses, {bank} uses {device}")),
    said(N_("expected a chemistry or expected_cycles for a battery")),
    said(N_("required for service {choice} (the GX's Modbus TCP page)"), choice=r"'\w+'"),
    said(N_("expected vvvv:pppp in hex, got {value}")),
    said(N_("required when bind is not a loopback address")),
    said(N_('expected a table of NAME = "string", got {value}')),
    said(N_("required for kind {choice}: a non-empty array (argv, no shell)"), choice=r"'\w+'"),
    said(N_('expected none for kind = "report" (the built-in report)')),
    said(
        N_("job {name}: {key} must not be above {limit}"), name=r"'[^']*'", key=r"\w+", limit=r"\w+"
    ),
    said(N_("expected a pin or LED no other role uses, {role} uses {value} too"), role=r"\w+"),
    said(N_("expected the name of a folder of /sys/class/leds such as ACT, got {value}")),
    said(N_("expected at least {count} characters (the key is not shown)"), count=r"\d+"),
    said(N_("expected names among {names}, got {value}")),
    said(N_("expected one topic level, got {value}")),
    said(N_("expected a unique device id, {value} is used twice")),
    said(
        N_(
            "expected a serial port no other device uses, {earlier} ({id}) uses it too (this"
            " driver cannot share a bus)"
        ),
        earlier=r"devices\[\d+\]",
    ),
    said(
        N_("expected the baudrate of {earlier} ({id}) on the same bus, {value}"),
        earlier=r"devices\[\d+\]",
    ),
    said(
        N_(
            "required when there are [[jobs]] and no [[batteries]] bank to take it from"
            " (capacity_ah x nominal_voltage)"
        )
    ),
    said(N_('expected "{field}" in an element, got {value}'), field=r"\{service\}"),
    said(
        N_("expected a shutdown voltage above protection_voltage ({limit}), got {value}"),
        limit=r"[^)]+",
    ),
    said(N_("expected a unique component name (not pibox or uplink), got {value}")),
    said(N_("expected an array of tables ({form}), got {kind}"), form=r"\[\[\S+\]\]"),
    said(N_("expected a list of tables ({form})"), form=r"\[\[\S+\]\]"),
    said(N_("expected an array of command names, got {kind}")),
    said(N_("expected a message with balanced braces, got {value}")),
    said(N_("expected {low}..{high}, got {value}"), low=r"-?[\d.]+", high=r"-?[\d.]+"),
    said(N_("expected a serial device path like /dev/ttyUSB0, got {value}")),
    said(N_("expected a valid register map ({detail}), got {value}")),
    said(N_('expected an array of "vvvv:pppp" strings')),
    said(N_("expected at least one of {names}")),
    said(N_("expected a table")),
    said(N_("expected {first} or {second}, got {value}"), first=r"\w+", second=r"\w+"),
    (
        re.compile(
            r"invalid TOML: (?P<detail>.+) \(at line (?P<line>\d+), column (?P<column>\d+)\)"
        ),
        N_("invalid TOML at line {line}, column {column}: {detail}"),
    ),
)


def expected(text: str, lang: str) -> str:
    """One problem's text (after its key path) in `lang`; English when not a known kind."""
    if lang == "en":
        return text
    for pattern, message in PATTERNS:
        found = pattern.fullmatch(text)
        if found is None:
            continue
        values = {k: v for k, v in found.groupdict().items() if v is not None}
        for key in ("expected", "kind", "other"):  # the type names of a type mismatch
            if values.get(key) in TYPE_NAMES:
                values[key] = tr(TYPE_NAMES[values[key]], lang)
        if "other" in values:
            other = values.pop("other")
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
