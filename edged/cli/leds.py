"""`edged leds show PATTERN`: set the status LEDs by hand, without the daemon.

systemd runs `edged leds show stopped` after every exit of the daemon (`ExecStopPost=`, with
the privileges the sandboxed daemon lacks): whatever ended it, a crash or a watchdog kill
included, the board does not keep showing what it showed last. A technician fitting a board
runs the other patterns to check the wiring against the printed card (`--seconds` holds a
blinking GPIO pattern, whose blinking lives in this process). Do not run it while the daemon
runs: both would drive the same pins.
"""

from __future__ import annotations

import argparse
import time

from edged.cli import i18n
from edged.cli.config_file import load_or_report
from edged.indicators import texts
from edged.indicators.board import Board, outputs
from edged.indicators.patterns import PATTERNS, Condition

NAMES = {c.name.lower(): c for c in Condition}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("leds", help="set the status LEDs by hand (no daemon)")
    sub = parser.add_subparsers(dest="leds_command", required=True)
    show = sub.add_parser("show", help="show one pattern: " + ", ".join(NAMES))
    show.add_argument("pattern", choices=tuple(NAMES))
    show.add_argument("--config")
    show.add_argument("--seconds", type=float, default=0.0, help="hold it this long, then exit")
    show.add_argument("--lang", choices=i18n.LANGS, help="fr (default) or en; or $EDGED_LANG")
    show.set_defaults(handler=run_show)
    return parser


def run_show(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 2
    if config.leds is None:  # a site without LEDs: nothing to do (ExecStopPost runs everywhere)
        return 0
    condition = NAMES[args.pattern]
    board = Board(outputs(config.leds))
    board.show(PATTERNS[condition])
    lang = i18n.language(args.lang, config)
    print(f"{args.pattern}{i18n.tr(':', lang)} {texts.meaning(condition, lang)}")
    try:
        if args.seconds > 0:
            time.sleep(args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        board.close()
    return 1 if board.view()["failing"] else 0  # each failure was logged with its reason
