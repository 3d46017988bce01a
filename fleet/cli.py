"""`edged-fleet`: the central side's command line (migrate the database, run a collector).

The database is named by `--dsn` or `$EDGED_FLEET_DSN` (a libpq connection string); the broker
password only by `$EDGED_FLEET_MQTT_PASSWORD`, so it never shows in `ps`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence

import psycopg

from fleet.collect import Collector, CollectSettings, Lane
from fleet.schema import migrate, schema_version

log = logging.getLogger(__name__)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edged-fleet", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    dsn = {"default": os.environ.get("EDGED_FLEET_DSN"), "help": "libpq DSN ($EDGED_FLEET_DSN)"}

    mig = sub.add_parser("migrate", help="create or upgrade the database schema")
    mig.add_argument("--dsn", **dsn)

    col = sub.add_parser("collect", help="ingest every site's MQTT messages into PostgreSQL")
    col.add_argument("--dsn", **dsn)
    col.add_argument("--broker", type=_host_port, default=("127.0.0.1", 1883), help="HOST:PORT")
    col.add_argument("--group", default="edged-fleet", help="shared subscription group")
    col.add_argument("--slot", type=int, default=1, help="this collector's fixed slot number")
    col.add_argument("--prefix", default="edged", help="the sites' mqtt.topic_prefix")
    col.add_argument(
        "--lane",
        choices=[lane.value for lane in Lane],
        default=Lane.ALL.value,
        help="all topics, or live (all but history) / history only, each with its own slots",
    )
    col.add_argument("--username", default=None)
    col.add_argument("--batch", type=int, default=1000, help="messages per transaction, at most")
    col.add_argument("--batch-wait", type=float, default=0.2, help="seconds to fill a batch")
    col.add_argument("--receive-max", type=int, default=4000, help="unacknowledged, at most")
    col.add_argument("--session-expiry", type=int, default=7 * 24 * 3600, help="seconds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.dsn:
        print("edged-fleet: no database: give --dsn or set EDGED_FLEET_DSN", file=sys.stderr)
        return 2
    if args.command == "migrate":
        return _migrate(args.dsn)
    return _collect(args)


def _migrate(dsn: str) -> int:
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            applied = migrate(conn)
            print(f"schema version {schema_version(conn)} (applied now: {applied or 'none'})")
    except psycopg.Error as exc:
        print(f"edged-fleet migrate: {exc}", file=sys.stderr)
        return 1
    return 0


def _collect(args: argparse.Namespace) -> int:
    host, port = args.broker
    settings = CollectSettings(
        host=host,
        port=port,
        dsn=args.dsn,
        group=args.group,
        slot=args.slot,
        prefix=args.prefix,
        lane=Lane(args.lane),
        batch_max=args.batch,
        batch_wait=args.batch_wait,
        receive_max=args.receive_max,
        session_expiry=args.session_expiry,
        username=args.username,
        password=os.environ.get("EDGED_FLEET_MQTT_PASSWORD"),
    )
    collector = Collector(settings)
    try:
        collector.start()
    except psycopg.Error as exc:  # systemd restarts us; the broker keeps the session meanwhile
        print(f"edged-fleet collect: database: {exc}", file=sys.stderr)
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: collector.request_stop())
    while not collector.wait(60):
        log.info("collector %s: %s", settings.client_id, dict(collector.totals))
    collector.stop()
    return 1 if collector.failed else 0


if __name__ == "__main__":
    sys.exit(main())
