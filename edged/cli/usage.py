"""argparse's errors (a missing or unknown argument, a wrong value) in the CLI's language.

argparse writes them in English through its own `gettext` domain, which no Debian package
translates for Python; `Parser.error` says the usual ones again from our catalogue, the
argument names as typed. The usage line above is the command's syntax and stays as it is.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import NoReturn

from edged.cli import i18n
from edged.cli.i18n import N_, tr

ERRORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), message)
    for pattern, message in (
        (r"the following arguments are required: (?P<names>.+)", N_("missing argument: {names}")),
        (r"unrecognized arguments: (?P<names>.+)", N_("unknown argument: {names}")),
        (
            r"argument (?P<name>\S+): invalid choice: (?P<value>.+)"
            r" \(choose from (?P<choices>.+)\)",
            N_("{name}: {value} is not a choice; choose from {choices}"),
        ),
        (
            r"argument (?P<name>\S+): invalid (?:float|int) value: (?P<value>.+)",
            N_("{name}: expected a number, got {value}"),
        ),
        (r"argument (?P<name>\S+): expected one argument", N_("{name}: expected a value")),
    )
)


def translated(message: str, lang: str) -> str:
    """argparse's `message` in `lang`; as it is when not one of the usual ones."""
    for pattern, text in ERRORS:
        found = pattern.fullmatch(message)
        if found is not None:
            return tr(text, lang, **found.groupdict())
    return message


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors speak the CLI's language (its subcommands' too)."""

    def error(self, message: str) -> NoReturn:
        lang = i18n.language(None)  # before the arguments are parsed: --lang is not known
        self.print_usage(sys.stderr)
        colon, word = tr(":", lang), tr("error", lang)
        self.exit(2, f"{self.prog}{colon} {word}{colon} {translated(message, lang)}\n")
