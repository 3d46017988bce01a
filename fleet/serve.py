"""Run `edged-fleet web`: migrate, start the no-data watcher, serve the dashboard with waitress.

waitress is a pure-Python production WSGI server (threads, no C build, in Debian too); it bounds
request headers and bodies itself, and the app bounds forms (fleet/web.py). TLS is left to a
reverse proxy in front (docs/fleet.md), with `--secure-cookies`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import psycopg
import waitress

from fleet.commands import BrokerSettings
from fleet.schema import migrate
from fleet.watch import Watcher, WatchSettings
from fleet.web import WebSettings, create_app

log = logging.getLogger(__name__)


def serve(args: argparse.Namespace) -> int:
    try:
        with psycopg.connect(args.dsn, connect_timeout=10) as conn:
            migrate(conn)
    except psycopg.Error as exc:
        print(f"edged-fleet web: database: {exc}", file=sys.stderr)
        return 1
    bhost, bport = args.broker
    settings = WebSettings(
        dsn=args.dsn,
        prefix=args.prefix,
        broker=BrokerSettings(
            bhost, bport, args.username, os.environ.get("EDGED_FLEET_MQTT_PASSWORD")
        ),
        ack_ttl_s=args.ack_ttl,
        silent_after_s=args.silent_after,
        secure_cookies=args.secure_cookies,
    )
    watcher = Watcher(
        args.dsn,
        WatchSettings(args.silent_after, args.device_silent_after, args.watch_interval),
    )
    watcher.start()
    host, port = args.listen
    log.info("dashboard on http://%s:%d/", host, port)
    waitress.serve(
        create_app(settings),
        host=host,
        port=port,
        threads=args.threads,
        ident="edged-fleet",
        max_request_header_size=32 * 1024,
        max_request_body_size=64 * 1024,
        clear_untrusted_proxy_headers=True,
    )
    watcher.stop()
    return 0
