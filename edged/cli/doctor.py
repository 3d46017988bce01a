"""`edged doctor`: the technician's checks, one line each; `edged support-bundle`: the archive.

Exit code by the worst verdict: 0 all OK, 1 a warning, 2 a failure. The checks themselves are
`edged.services.doctor` (the support bundle includes their output).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edged.cli import i18n
from edged.cli.config_file import load_or_report
from edged.cli.i18n import N_
from edged.config.loader import config_path
from edged.services import doctor, support


def run_doctor(args: argparse.Namespace) -> int:
    lang = i18n.language(args.lang)
    checks = doctor.examine(config_path(args.config))
    if args.json:
        print(json.dumps([c.as_dict(lang) for c in checks], ensure_ascii=False, indent=1))
    else:
        print(doctor.render(checks, lang), end="")
    return int(doctor.worst(checks))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check config, ports, database, clock, broker, service")
    p.add_argument("--config")
    p.add_argument("--lang", choices=i18n.LANGS, help="fr (default) or en; or $EDGED_LANG")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_doctor)


SUPPORT_DONE = N_("Support archive: {path} ({size})")


def run_support_bundle(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 2
    log_file = Path(args.log) if args.log else None
    path = support.write_bundle(config, Path(args.out), lines=args.lines, log_file=log_file)
    lang = i18n.language(args.lang, config)
    print(i18n.tr(SUPPORT_DONE, lang, path=path, size=doctor.size(path.stat().st_size)))
    return 0


def add_support_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("support-bundle", help="one tar.gz for the support (secrets removed)")
    p.add_argument("--config")
    p.add_argument("--out", default=".", help="folder for the archive (a USB stick)")
    p.add_argument("--lines", type=int, default=support.LOG_LINES, help="last log lines")
    p.add_argument("--log", help="a log file, when there is no journal")
    p.add_argument("--lang", choices=i18n.LANGS)
    p.set_defaults(handler=run_support_bundle)
