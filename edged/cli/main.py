"""The `edged` command: run, status, check-config, simulate, scan, alarms, report, battery,
maintenance, schedule, backup, doctor, support-bundle, leds, guide.

Exit codes: 0 success, 1 runtime failure (e.g. database unusable), 2 invalid config or usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence

from edged import __version__
from edged.cli import (
    alarms,
    battery,
    doctor,
    guide,
    i18n,
    leds,
    maintenance,
    report,
    run,
    scan,
    schedule,
    simulate,
    status,
    usage,
)
from edged.cli.config_file import load_or_report
from telemetry.store import StoreError

log = logging.getLogger("edged")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    _setup_logging(args.log_level)
    try:
        code = args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:  # `edged alarms --all | head`: the reader had enough, not an error
        _quiet_stdout()
        return 0
    return code


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush does not fail again (the
    Python documentation's recipe for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _parser() -> argparse.ArgumentParser:
    parser = usage.Parser(prog="edged", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"edged {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING"))
    sub = parser.add_subparsers(dest="command")

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(handler=handler)
        return p

    run_ = command("run", run.run, "run the daemon in the foreground")
    run_.add_argument("--config", help="default: $EDGED_CONFIG or /etc/edged/edged.toml")
    status = command("status", _cmd_status, "show what the daemon last saw")
    status.add_argument("--config")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--lang", choices=i18n.LANGS, help="fr (default) or en; or $EDGED_LANG")
    status.add_argument(
        "--details", action="store_true", help="the technician's view: every device and metric"
    )
    check = command("check-config", _cmd_check, "validate a config file")
    check.add_argument("--config")
    sim = command("simulate", _cmd_simulate, "run the daemon on emulated devices (no hardware)")
    sim.add_argument("--dir", default="var/simulation", help="working folder (ptys, db, config)")
    sim.add_argument("--broker", default="127.0.0.1:1883", help="MQTT broker host:port")
    sim.add_argument("--no-mqtt", action="store_true", help="keep everything in the outbox")
    sim.add_argument("--seconds", type=float, help="stop after this many seconds")
    sim.add_argument("--publish-interval", type=float, default=60.0)
    scan.add_parser(sub)
    alarms.add_parser(sub)
    report.add_parser(sub)
    battery.add_parser(sub)
    maintenance.add_parser(sub)
    leds.add_parser(sub)
    guide.add_parser(sub)
    schedule.add_parser(sub)
    doctor.add_parser(sub)
    doctor.add_support_parser(sub)
    return parser


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _cmd_check(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 2
    lang = i18n.language(None, config)
    devices = i18n.ntr("{n} device", "{n} devices", len(config.devices), lang)
    print(f"{config.source}{i18n.tr(':', lang)} OK ({devices})")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 2
    try:
        data = status.collect(config)
    except (StoreError, sqlite3.Error) as exc:  # unreadable, or a schema not upgraded yet
        lang = i18n.language(args.lang, config)
        print(i18n.tr("edged: the database cannot be read: {error}", lang, error=exc),
              file=sys.stderr)  # fmt: skip
        return 1
    if args.json:
        print(status.render_json(data, config))
    else:
        text = status.render_text(data, config, i18n.language(args.lang, config), args.details)
        print(text, end="")
    return 0 if data is not None else 1


def _cmd_simulate(args: argparse.Namespace) -> int:
    return simulate.simulate(args)


if __name__ == "__main__":
    sys.exit(main())
