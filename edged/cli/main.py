"""The `edged` command: run, status, check-config, simulate, scan, alarms, report, battery,
maintenance, schedule, backup.

Exit codes: 0 success, 1 runtime failure (e.g. database unusable), 2 invalid config or usage.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from edged import __version__
from edged.cli import (
    alarms,
    battery,
    i18n,
    maintenance,
    report,
    run,
    scan,
    schedule,
    simulate,
    status,
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
    return args.handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edged", description=__doc__.splitlines()[0])
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
    status.add_argument("--details", action="store_true", help="every metric, not the main ones")
    check = command("check-config", _cmd_check, "validate a config file")
    check.add_argument("--config")
    sim = command("simulate", _cmd_simulate, "run the daemon on emulated devices (no hardware)")
    sim.add_argument("--dir", default="var/simulation", help="working folder (ptys, db, config)")
    sim.add_argument("--broker", default="127.0.0.1:1883", help="MQTT broker host:port")
    sim.add_argument("--no-mqtt", action="store_true", help="keep everything in the outbox")
    sim.add_argument("--seconds", type=float, help="stop after this many seconds")
    sim.add_argument("--publish-interval", type=float, default=60.0)
    sim.add_argument(
        "--storage",
        action="append",
        default=[],
        type=simulate.storage_option,
        metavar="KEY=VALUE",
        help="a [storage] key for the simulated site, VALUE in TOML (keep_raw_samples=true)",
    )
    scan.add_parser(sub)
    alarms.add_parser(sub)
    report.add_parser(sub)
    battery.add_parser(sub)
    maintenance.add_parser(sub)
    schedule.add_parser(sub)
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
    print(f"{config.source}: OK ({len(config.devices)} device(s))")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 2
    try:
        data = status.collect(config)
    except StoreError as exc:  # unreadable, or a schema the daemon has not upgraded yet
        print(f"edged status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(status.render_json(data, config))
    else:
        text = status.render_text(data, config, i18n.language(args.lang), args.details)
        print(text, end="")
    return 0 if data is not None else 1


def _cmd_simulate(args: argparse.Namespace) -> int:
    return simulate.simulate(args)


if __name__ == "__main__":
    sys.exit(main())
