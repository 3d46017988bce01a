"""`edged run`: the daemon in the foreground until SIGTERM/SIGINT (what the systemd unit starts)."""

from __future__ import annotations

import argparse
import logging
import signal

from edged import live, memory
from edged.cli import i18n
from edged.cli.config_file import load_or_report
from edged.config.settings import Config
from edged.daemon import EXIT_THREAD_DIED, Daemon
from edged.stop_signals import StopSignals
from telemetry.lock import DatabaseBusy

log = logging.getLogger("edged")


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        log.error("refusing to start: the config is invalid (see above)")
        return 2
    return run_daemon(config)


def run_daemon(config: Config, stop_after: float | None = None) -> int:
    """Run until SIGTERM/SIGINT (or `stop_after` seconds); 2 if another daemon holds the
    database (one database, one daemon) or the live view's folder (one site, one daemon: its
    live view, `backup --now` requests and job locks), `EXIT_THREAD_DIED` if a thread died of
    an exception (the daemon then stopped in order)."""
    # Before any thread starts: each would otherwise get a malloc arena of its own.
    memory.limit_arenas()
    try:
        daemon = Daemon(config)
    except DatabaseBusy as exc:
        db = config.storage.path
        log.error("%s", i18n.t("db_locked", i18n.language(None), path=db, pid=exc.pid or "?"))
        return 2
    except live.LiveInUse as exc:  # another site's daemon, or a bench, on this machine
        folder = exc.path.parent
        log.error("%s", i18n.t("live_locked", i18n.language(None), path=folder, pid=exc.pid or "?"))
        return 2
    stops = StopSignals().install(signal.SIGTERM, signal.SIGINT)
    if stop_after is not None:
        stops.install(signal.SIGALRM)
        signal.setitimer(signal.ITIMER_REAL, stop_after)
    daemon.run(stops)
    stops.block()
    return 0 if daemon.died is None else EXIT_THREAD_DIED
