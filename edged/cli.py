"""The `edged` command: run, status, check-config, simulate, scan, alarms, report, battery,
maintenance, schedule, backup.

Exit codes: 0 success, 1 runtime failure (e.g. database unusable), 2 invalid config or usage.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from edged import (
    __version__,
    alarms_cmd,
    battery_cmd,
    i18n,
    maintenance_cmd,
    report_cmd,
    scan_cmd,
    schedule_cmd,
)
from edged.config import ConfigError, config_path, load

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

    run = command("run", _cmd_run, "run the daemon in the foreground")
    run.add_argument("--config", help="default: $EDGED_CONFIG or /etc/edged/edged.toml")
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
    scan_cmd.add_parser(sub)
    alarms_cmd.add_parser(sub)
    report_cmd.add_parser(sub)
    battery_cmd.add_parser(sub)
    maintenance_cmd.add_parser(sub)
    schedule_cmd.add_parser(sub)
    return parser


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _load_or_report(path_arg: str | None):
    path = config_path(path_arg)
    try:
        return load(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem.line(exc.source), file=sys.stderr)
        return None


def _cmd_check(args: argparse.Namespace) -> int:
    config = _load_or_report(args.config)
    if config is None:
        return 2
    print(f"{config.source}: OK ({len(config.devices)} device(s))")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    config = _load_or_report(args.config)
    if config is None:
        log.error("refusing to start: the config is invalid (see above)")
        return 2
    return run_daemon(config)


def run_daemon(config, stop_after: float | None = None) -> int:
    """Run until SIGTERM/SIGINT (or `stop_after` seconds); 2 if another daemon holds the
    database (one database, one daemon), `EXIT_THREAD_DIED` if a thread died of an exception
    (the daemon then stopped in order)."""
    from edged.daemon import EXIT_THREAD_DIED, Daemon
    from telemetry.lock import DatabaseBusy

    try:
        daemon = Daemon(config)
    except DatabaseBusy as exc:
        db = config.storage.path
        log.error("%s", i18n.t("db_locked", i18n.language(None), path=db, pid=exc.pid or "?"))
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: daemon.stop())
    if stop_after is not None:
        signal.signal(signal.SIGALRM, lambda *_: daemon.stop())
        signal.setitimer(signal.ITIMER_REAL, stop_after)
    daemon.run()
    return 0 if daemon.died is None else EXIT_THREAD_DIED


def _cmd_status(args: argparse.Namespace) -> int:
    from edged import status
    from telemetry.store import StoreError

    config = _load_or_report(args.config)
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
    from edged.simulate import simulate

    return simulate(args)


if __name__ == "__main__":
    sys.exit(main())
