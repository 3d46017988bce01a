"""`edged doctor [--config FILE] [--lang fr|en] [--json]`: the technician's checks, one line each.

Exit code by the worst verdict: 0 all OK, 1 a warning, 2 a failure. The checks themselves are
`edged.services.doctor` (the support bundle includes their output).
"""

from __future__ import annotations

import argparse
import json
import os

from edged.cli import i18n
from edged.config.loader import config_path
from edged.services import doctor


def language(cli_value: str | None) -> str:
    """--lang, else $EDGED_LANG, else the locale ($LANG=en_US.UTF-8 gives English); French."""
    for value in (cli_value, os.environ.get("EDGED_LANG"), os.environ.get("LANG", "")[:2]):
        if value in i18n.LANGS:
            return value
    return "fr"


TITLE = ("edged doctor : vérifications", "edged doctor: checks")
VERDICT = {
    doctor.Level.OK: ("Tout va bien.", "All good."),
    doctor.Level.WARN: ("À surveiller (voir ATTENTION).", "Needs attention (see WARNING)."),
    doctor.Level.FAIL: ("Problème à corriger (voir ÉCHEC).", "Problem to fix (see FAIL)."),
}


def render(checks: list[doctor.Check], lang: str) -> str:
    pick = 0 if lang == "fr" else 1
    width = max(len(label[pick]) for label in doctor.LABELS.values())
    lines = [TITLE[pick]]
    for check in checks:
        label = doctor.LABELS[check.level][pick]
        lines.append(f"[{label:<{width}}] {check.text(lang)}")
        if check.hint:
            lines.append(f"{'':<{width + 3}}→ {check.hint_text(lang)}")
    lines.append(VERDICT[doctor.worst(checks)][pick])
    return "\n".join(lines) + "\n"


def run_doctor(args: argparse.Namespace) -> int:
    lang = language(args.lang)
    checks = doctor.examine(config_path(args.config))
    if args.json:
        print(json.dumps([c.as_dict(lang) for c in checks], ensure_ascii=False, indent=1))
    else:
        print(render(checks, lang), end="")
    return int(doctor.worst(checks))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check config, ports, database, clock, broker, service")
    p.add_argument("--config")
    p.add_argument("--lang", choices=i18n.LANGS, help="fr (default), en; or $EDGED_LANG, $LANG")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_doctor)
