"""The `edged` command: run, status, check-config, simulate, scan, alarms, report, battery,
maintenance, schedule, backup, doctor, support-bundle, leds, guide.

Exit codes: 0 success, 1 runtime failure (e.g. database unusable), 2 invalid config or usage.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from edged import __version__
from edged.cli import i18n, usage

log = logging.getLogger("edged")

LAZY = {
    "scan": ("scan", "list serial ports, find Modbus units (read-only)"),
    "alarms": ("alarms", "list alarms (active first); ack one"),
    "report": ("report", "monthly equipment and cost report (files)"),
    "battery": ("battery", "battery health figures of each bank"),
    "maintenance": ("maintenance", "record and list maintenance visits"),
    "schedule": ("schedule", "jobs: next runs and why each one waits"),
    "backup": ("schedule", "run a backup job now (--now), with its progress"),
    "doctor": ("doctor", "check config, ports, database, clock, broker, service"),
    "support-bundle": ("doctor", "one tar.gz for the support (secrets removed)"),
    "leds": ("leds", "set the status LEDs by hand (no daemon)"),
    "guide": ("guide", "the staff guide as a PDF to print"),
}
"""Command: (module of edged.cli that registers it with its `add_parser`, its help line).

Only the module of the command given is imported: `edged run` does not load the report, the
scanner or the simulator (~30 modules, ~1.6 MB of the daemon's RSS, bench/bench_imports.py).
The others get a placeholder with the same help line for `edged --help`
(tests/edged/cli/test_main.py checks the lines match)."""


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser(chosen(argv))
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


def chosen(argv: Sequence[str]) -> str | None:
    """The command named in `argv` (its first word that is one), else None."""
    names = {"run", "status", "check-config", "simulate", *LAZY}
    return next((word for word in argv if word in names), None)


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"edged.cli.{name}")


def _parser(command_given: str | None = None) -> argparse.ArgumentParser:
    """The `edged` parser, with the full subparser of `command_given` only (see LAZY)."""
    parser = usage.Parser(prog="edged", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"edged {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING"))
    sub = parser.add_subparsers(dest="command")

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(handler=handler)
        return p

    run_ = command("run", _cmd_run, "run the daemon in the foreground")
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
    sim.add_argument(
        "--storage",
        action="append",
        default=[],
        type=_storage_option,
        metavar="KEY=VALUE",
        help="a [storage] key for the simulated site, VALUE in TOML (keep_raw_samples=true)",
    )
    registered: set[str] = set()
    for name, (module, _) in LAZY.items():
        if name == command_given and module not in registered:
            loaded = _module(module)
            loaded.add_parser(sub)
            if module == "doctor":  # the doctor's module has both technician's commands
                loaded.add_support_parser(sub)
            registered.add(module)
    for name, (module, help_text) in LAZY.items():
        if module not in registered:
            sub.add_parser(name, help=help_text)
    return parser


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _cmd_run(args: argparse.Namespace) -> int:
    return _module("run").run(args)


def _cmd_check(args: argparse.Namespace) -> int:
    from edged.cli.config_file import load_or_report

    config = load_or_report(args.config)
    if config is None:
        return 2
    lang = i18n.language(None, config)
    devices = i18n.ntr("{n} device", "{n} devices", len(config.devices), lang)
    print(f"{config.source}{i18n.tr(':', lang)} OK ({devices})")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from edged.cli import status
    from edged.cli.config_file import load_or_report
    from telemetry.database import DatabaseError
    from telemetry.store import StoreError

    config = load_or_report(args.config)
    if config is None:
        return 2
    try:
        data = status.collect(config)
    except (StoreError, DatabaseError) as exc:  # unreadable, or a schema not upgraded yet
        lang = i18n.language(args.lang, config)
        error = i18n.tr("edged: the database cannot be read: {error}", lang, error=exc)
        print(error, file=sys.stderr)
        return 1
    if args.json:
        print(status.render_json(data, config))
    else:
        text = status.render_text(data, config, i18n.language(args.lang, config), args.details)
        print(text, end="")
    return 0 if data is not None else 1


def _cmd_simulate(args: argparse.Namespace) -> int:
    return _module("simulate").simulate(args)


def _storage_option(text: str) -> tuple[str, str]:
    return _module("simulate").storage_option(text)


if __name__ == "__main__":
    sys.exit(main())
