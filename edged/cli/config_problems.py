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
        (
            r"expected one of (?P<names>.+), got (?P<value>.+)",
            N_("expected one of {names}, got {value}"),
        ),
        (r"expected one of (?P<names>.+)", N_("expected one of {names}")),
        (
            r"expected a positive number, got (?P<value>.+)",
            N_("expected a positive number, got {value}"),
        ),
        (
            rf"expected (?P<expected>{_TYPES})(?: or (?P<other>{_TYPES}))?, got (?P<kind>{_TYPES})"
            r" (?P<value>.+)",
            N_("expected {expected}, got {kind} {value}"),
        ),
        (
            rf"expected (?P<expected>{_TYPES}), got (?P<kind>{_TYPES})",
            N_("expected {expected}, got {kind}"),
        ),
        (
            r"expected a state of charge 0-100 \(%\), got (?P<value>.+)",
            N_("expected a state of charge 0-100 (%), got {value}"),
        ),
        (
            r"expected only (?P<chars>\[\S+\]) characters, got (?P<value>.+)",
            N_("expected only {chars} characters, got {value}"),
        ),
        (
            r"expected the id of a \[\[devices\]\] entry, got (?P<value>.+)",
            N_("expected the id of a [[devices]] entry, got {value}"),
        ),
        (
            r"expected an IANA time zone such as Africa/Bamako, got (?P<value>.+)",
            N_("expected an IANA time zone such as Africa/Bamako, got {value}"),
        ),
        (
            r"expected a number of seconds >= 0, got (?P<value>.+)",
            N_("expected a number of seconds >= 0, got {value}"),
        ),
        (r"expected a number >= 0, got (?P<value>.+)", N_("expected a number >= 0, got {value}")),
        (r"expected a number >= 0", N_("expected a number >= 0")),
        (r"expected a number > 0", N_("expected a number > 0")),
        (
            r"expected a fraction in \(0, 1\], got (?P<value>.+)",
            N_("expected a fraction in (0, 1], got {value}"),
        ),
        (r"expected 12, 24 or 48, got (?P<value>.+)", N_("expected 12, 24 or 48, got {value}")),
        (r"expected a day 1-28, got (?P<value>.+)", N_("expected a day 1-28, got {value}")),
        (r"expected a date \(YYYY-MM-DD\)", N_("expected a date (YYYY-MM-DD)")),
        (r"expected only with (?P<key>\w+)", N_("expected only with {key}")),
        (
            r"expected exactly one of (?P<first>\w+) and (?P<second>\w+)",
            N_("expected exactly one of {first} and {second}"),
        ),
        (
            r"expected either (?P<first>\w+) or (?P<second>\w+), not both",
            N_("expected either {first} or {second}, not both"),
        ),
        (
            r"expected above (?P<key>\w+) \((?P<limit>[^)]+)\), got (?P<value>.+)",
            N_("expected above {key} ({limit}), got {value}"),
        ),
        (
            r"expected more than (?P<key>\w+) \((?P<limit>[^)]+)\), got (?P<value>.+)",
            N_("expected more than {key} ({limit}), got {value}"),
        ),
        (
            r"expected at most (?P<key>\w+) \((?P<limit>[^)]+)\), got (?P<value>.+)",
            N_("expected at most {key} ({limit}), got {value}"),
        ),
        (
            r"expected a unique job name, (?P<value>.+) is used twice",
            N_("expected a unique job name, {value} is used twice"),
        ),
        (
            r"expected a unique bank id, (?P<value>.+) is used twice",
            N_("expected a unique bank id, {value} is used twice"),
        ),
        (r"expected a unique, non-empty name", N_("expected a unique, non-empty name")),
        (
            r"expected a new rule id, (?P<value>.+) exists",
            N_("expected a new rule id, {value} exists"),
        ),
        (
            r"expected an id no device has, (?P<value>.+) is a device",
            N_("expected an id no device has, {value} is a device"),
        ),
        (
            r"expected the id of a \[\[devices\]\] or \[\[batteries\]\] entry, got (?P<value>.+)",
            N_("expected the id of a [[devices]] or [[batteries]] entry, got {value}"),
        ),
        (
            r"expected a GPIO pin name such as GPIO17 or BOARD11, got (?P<value>.+)",
            N_("expected a GPIO pin name such as GPIO17 or BOARD11, got {value}"),
        ),
        (r"required for kind (?P<choice>'\w+')", N_("required for kind {choice}")),
        (
            r"expected an array of non-empty strings, got (?P<value>.+)",
            N_("expected an array of non-empty strings, got {value}"),
        ),
        (
            r"expected a non-empty array \(argv, no shell\), got (?P<value>.+)",
            N_("expected a non-empty array (argv, no shell), got {value}"),
        ),
        (
            r"expected systemd unit names, got (?P<value>.+)",
            N_("expected systemd unit names, got {value}"),
        ),
        (
            r'expected \["HH:MM", "HH:MM"\], two different times 00:00-24:00, got (?P<value>.+)',
            N_('expected ["HH:MM", "HH:MM"], two different times 00:00-24:00, got {value}'),
        ),
        (
            r"expected \[start, end\] hours 0-24, got (?P<value>.+)",
            N_("expected [start, end] hours 0-24, got {value}"),
        ),
        (
            r"expected below (?P<key>\w+) \((?P<limit>[^)]+)\), got (?P<value>.+)",
            N_("expected below {key} ({limit}), got {value}"),
        ),
        (
            r"expected placeholders among (?P<names>.+), got (?P<value>.+)",
            N_("expected placeholders among {names}, got {value}"),
        ),
        (
            r"expected device\.metric or health\.component\.value \(patterns allowed: \*\),"
            r" got (?P<value>.+)",
            N_(
                "expected device.metric or health.component.value (patterns allowed: *),"
                " got {value}"
            ),
        ),
        (
            r"expected only with condition (?P<first>\w+) or (?P<second>\w+)",
            N_("expected only with condition {first} or {second}"),
        ),
        (
            r"expected no load: (?P<device>.+) \((?P<driver>\w+)\) reports its battery current net"
            r" of its load output already",
            N_(
                "expected no load: {device} ({driver}) reports its battery current net of its"
                " load output already"
            ),
        ),
        (
            r'expected monitor = "<device id>" \(measured SOC\) or controller = "<device id>"'
            r" \(estimated SOC\)",
            N_(
                'expected monitor = "<device id>" (measured SOC) or controller = "<device id>"'
                " (estimated SOC)"
            ),
        ),
        (
            r"expected only with controller \(an estimated bank\)",
            N_("expected only with controller (an estimated bank)"),
        ),
        (
            r"expected a device no other bank uses, (?P<bank>.+) uses (?P<device>.+)",
            N_("expected a device no other bank uses, {bank} uses {device}"),
        ),
        (
            r"expected a chemistry or expected_cycles for a battery",
            N_("expected a chemistry or expected_cycles for a battery"),
        ),
        (
            r"required for service (?P<choice>'\w+') \(the GX's Modbus TCP page\)",
            N_("required for service {choice} (the GX's Modbus TCP page)"),
        ),
        (
            r"expected vvvv:pppp in hex, got (?P<value>.+)",
            N_("expected vvvv:pppp in hex, got {value}"),
        ),
        (
            r"required when bind is not a loopback address",
            N_("required when bind is not a loopback address"),
        ),
        (
            r'expected a table of NAME = "string", got (?P<value>.+)',
            N_('expected a table of NAME = "string", got {value}'),
        ),
        (
            r"required for kind (?P<choice>'\w+'): a non-empty array \(argv, no shell\)",
            N_("required for kind {choice}: a non-empty array (argv, no shell)"),
        ),
        (
            r'expected none for kind = "report" \(the built-in report\)',
            N_('expected none for kind = "report" (the built-in report)'),
        ),
        (
            r"job (?P<name>'[^']*'): (?P<key>\w+) must not be above (?P<limit>\w+)",
            N_("job {name}: {key} must not be above {limit}"),
        ),
        (
            r"expected a pin or LED no other role uses, (?P<role>\w+) uses (?P<value>.+) too",
            N_("expected a pin or LED no other role uses, {role} uses {value} too"),
        ),
        (
            r"expected the name of a folder of /sys/class/leds such as ACT, got (?P<value>.+)",
            N_("expected the name of a folder of /sys/class/leds such as ACT, got {value}"),
        ),
        (
            r"expected at least (?P<count>\d+) characters \(the key is not shown\)",
            N_("expected at least {count} characters (the key is not shown)"),
        ),
        (
            r"expected names among (?P<names>.+), got (?P<value>.+)",
            N_("expected names among {names}, got {value}"),
        ),
        (
            r"expected one topic level, got (?P<value>.+)",
            N_("expected one topic level, got {value}"),
        ),
        (
            r"expected a unique device id, (?P<value>.+) is used twice",
            N_("expected a unique device id, {value} is used twice"),
        ),
        (
            r"expected a serial port no other device uses, (?P<earlier>devices\[\d+\])"
            r" \((?P<id>.+)\) uses it too \(this driver cannot share a bus\)",
            N_(
                "expected a serial port no other device uses, {earlier} ({id}) uses it too"
                " (this driver cannot share a bus)"
            ),
        ),
        (
            r"expected the baudrate of (?P<earlier>devices\[\d+\]) \((?P<id>.+)\) on the same bus,"
            r" (?P<value>.+)",
            N_("expected the baudrate of {earlier} ({id}) on the same bus, {value}"),
        ),
        (
            r"required when there are \[\[jobs\]\] and no \[\[batteries\]\] bank to take it from"
            r" \(capacity_ah x nominal_voltage\)",
            N_(
                "required when there are [[jobs]] and no [[batteries]] bank to take it from"
                " (capacity_ah x nominal_voltage)"
            ),
        ),
        (
            r'expected "(?P<field>\{service\})" in an element, got (?P<value>.+)',
            N_('expected "{field}" in an element, got {value}'),
        ),
        (
            r"expected a shutdown voltage above protection_voltage \((?P<limit>[^)]+)\),"
            r" got (?P<value>.+)",
            N_("expected a shutdown voltage above protection_voltage ({limit}), got {value}"),
        ),
        (
            r"expected a unique component name \(not pibox or uplink\), got (?P<value>.+)",
            N_("expected a unique component name (not pibox or uplink), got {value}"),
        ),
        (
            r"expected an array of tables \((?P<form>\[\[\S+\]\])\), got (?P<kind>.+)",
            N_("expected an array of tables ({form}), got {kind}"),
        ),
        (
            r"expected an array of command names, got (?P<kind>.+)",
            N_("expected an array of command names, got {kind}"),
        ),
        (
            r"expected a message with balanced braces, got (?P<value>.+)",
            N_("expected a message with balanced braces, got {value}"),
        ),
        (
            r"expected (?P<low>-?[\d.]+)\.\.(?P<high>-?[\d.]+), got (?P<value>.+)",
            N_("expected {low}..{high}, got {value}"),
        ),
        (
            r"expected a serial device path like /dev/ttyUSB0, got (?P<value>.+)",
            N_("expected a serial device path like /dev/ttyUSB0, got {value}"),
        ),
        (
            r"expected a valid register map \((?P<detail>.+)\), got (?P<value>.+)",
            N_("expected a valid register map ({detail}), got {value}"),
        ),
        (
            r'expected an array of "vvvv:pppp" strings',
            N_('expected an array of "vvvv:pppp" strings'),
        ),
        (r"expected at least one of (?P<names>.+)", N_("expected at least one of {names}")),
        (r"expected a table", N_("expected a table")),
        (
            r"expected (?P<first>\w+) or (?P<second>\w+), got (?P<value>.+)",
            N_("expected {first} or {second}, got {value}"),
        ),
        (
            r"invalid TOML: (?P<detail>.+) \(at line (?P<line>\d+), column (?P<column>\d+)\)",
            N_("invalid TOML at line {line}, column {column}: {detail}"),
        ),
    )
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
