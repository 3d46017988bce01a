"""The `edged` command: run, status, check-config, simulate, scan, alarms, report, battery,
maintenance, schedule, backup.

Exit codes: 0 success, 1 runtime failure (e.g. database unusable), 2 invalid config or usage.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from edged import __version__
from edged.cli import i18n

log = logging.getLogger("edged")

LAZY = {
    "scan": ("scan", "list serial ports, find Modbus units (read-only)"),
    "alarms": ("alarms", "list alarms (active first); ack one"),
    "report": ("report", "monthly equipment and cost report (files)"),
    "battery": ("battery", "battery health figures of each bank"),
    "maintenance": ("maintenance", "record and list maintenance visits"),
    "schedule": ("schedule", "jobs: next runs and why each one waits"),
    "backup": ("schedule", "run a backup job now (--now), with its progress"),
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
    return args.handler(args)


def chosen(argv: Sequence[str]) -> str | None:
    """The command named in `argv` (its first word that is one), else None."""
    names = {"run", "status", "check-config", "simulate", *LAZY}
    return next((word for word in argv if word in names), None)


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"edged.cli.{name}")


def _parser(command_given: str | None = None) -> argparse.ArgumentParser:
    """The `edged` parser, with the full subparser of `command_given` only (see LAZY)."""
    parser = argparse.ArgumentParser(prog="edged", description=__doc__.splitlines()[0])
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
        type=_storage_option,
        metavar="KEY=VALUE",
        help="a [storage] key for the simulated site, VALUE in TOML (keep_raw_samples=true)",
    )
    registered: set[str] = set()
    for name, (module, _) in LAZY.items():
        if name == command_given and module not in registered:
            _module(module).add_parser(sub)
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
    print(f"{config.source}: OK ({len(config.devices)} device(s))")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from edged.cli import status
    from edged.cli.config_file import load_or_report
    from telemetry.store import StoreError

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
    return _module("simulate").simulate(args)


def _storage_option(text: str) -> tuple[str, str]:
    return _module("simulate").storage_option(text)


if __name__ == "__main__":
    sys.exit(main())
