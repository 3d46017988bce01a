"""`edged-fleet`: the central side's command line: migrate the database, run a collector, serve
the dashboard, manage accounts and what the centre knows of a site (name, region, command key).

The database is named by `--dsn` or `$EDGED_FLEET_DSN` (a libpq connection string); the broker
password only by `$EDGED_FLEET_MQTT_PASSWORD`, a password by standard input and a site's command
key by `$EDGED_FLEET_SITE_KEY`, so none of them shows in `ps`.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence

import psycopg

from fleet import accounts, commands
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

    web = sub.add_parser("web", help="serve the technicians' dashboard")
    web.add_argument("--dsn", **dsn)
    web.add_argument("--listen", type=_host_port, default=("127.0.0.1", 8090), help="HOST:PORT")
    web.add_argument("--broker", type=_host_port, default=("127.0.0.1", 1883), help="HOST:PORT")
    web.add_argument("--username", default=None, help="broker account for commands")
    web.add_argument("--prefix", default="edged", help="the sites' mqtt.topic_prefix")
    web.add_argument("--threads", type=int, default=4)
    web.add_argument(
        "--ack-ttl",
        type=float,
        default=commands.ACK_TTL_S,
        help="command lifetime, s: below the sites' [remote] max_ttl (1 day by default)",
    )
    web.add_argument("--silent-after", type=float, default=240, help="site no-data alarm, s")
    web.add_argument("--device-silent-after", type=float, default=600, help="device, s")
    web.add_argument("--watch-interval", type=float, default=30, help="no-data sweep, s")
    web.add_argument("--secure-cookies", action="store_true", help="behind TLS")

    user = sub.add_parser("user", help="technicians' accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create an account or set its password (stdin)")
    add.add_argument("name")
    add.add_argument("--lang", choices=accounts.LANGS, default="fr")
    add.add_argument("--dsn", **dsn)

    site = sub.add_parser("site", help="a site's name, region and command key")
    site.add_argument("site")
    site.add_argument("--name")
    site.add_argument("--region")
    site.add_argument(
        "--key-from-env", action="store_true", help="set the command key from $EDGED_FLEET_SITE_KEY"
    )
    site.add_argument("--dsn", **dsn)
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
    if args.command == "web":
        from fleet.serve import serve  # flask and waitress: only the web process loads them

        return serve(args)
    if args.command == "user":
        return _user_add(args)
    if args.command == "site":
        return _site(args)
    return _collect(args)


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise accounts.AccountError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def _user_add(args: argparse.Namespace) -> int:
    try:
        password = _read_password()
        with psycopg.connect(args.dsn, connect_timeout=10, autocommit=True) as conn:
            migrate(conn)
            accounts.add_user(conn, args.name, password, args.lang)
    except accounts.AccountError as exc:
        print(f"edged-fleet user add: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        print(f"edged-fleet user add: {exc}", file=sys.stderr)
        return 1
    print(f"account {args.name!r} ready")
    return 0


def _site(args: argparse.Namespace) -> int:
    key = os.environ.get("EDGED_FLEET_SITE_KEY") if args.key_from_env else None
    if args.key_from_env and not key:
        print("edged-fleet site: $EDGED_FLEET_SITE_KEY is empty", file=sys.stderr)
        return 2
    try:
        with psycopg.connect(args.dsn, connect_timeout=10, autocommit=True) as conn:
            migrate(conn)
            conn.execute(
                "INSERT INTO site_info (site, name, region, cmd_key) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (site) DO UPDATE SET name = coalesce(excluded.name, site_info.name),"
                " region = coalesce(excluded.region, site_info.region),"
                " cmd_key = coalesce(excluded.cmd_key, site_info.cmd_key)",
                (args.site, args.name, args.region, key),
            )
    except psycopg.Error as exc:
        print(f"edged-fleet site: {exc}", file=sys.stderr)
        return 1
    print(f"site {args.site!r} updated")
    return 0


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
    # The handler only notes the signal: run inside the main thread's `Event.wait`, a handler
    # calling `Event.set()` could wait forever for the lock that very wait holds.
    signalled: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: signalled.append(signum))
    last_totals = time.monotonic()
    while not signalled and not collector.stopping.wait(0.2):
        if time.monotonic() - last_totals >= 60:
            log.info("collector %s: %s", settings.client_id, dict(collector.totals))
            last_totals = time.monotonic()
    collector.stop()
    return 1 if collector.failed else 0


if __name__ == "__main__":
    sys.exit(main())
