"""`edged alarms`: what the daemon raised (active first, then history); `edged alarms ack`.

Listing reads the database read-only, beside a running daemon. Acknowledging writes one row
through a short transaction from this process: the database is WAL with a busy timeout, the
Writer's transactions last milliseconds, and an ack is rare (a technician's command), so this
second writer never waits long and costs one page. A command file picked up by the daemon would
need the daemon running to record an ack, and a second channel to report the result; the direct
write works on a stopped daemon too. The daemon never rewrites `acked_*`, so nothing races.
The daemon commits an alarm's row within a second of raising it (`Writer.put_row(soon=True)`), so
the number `edged status` shows is accepted here at once; `ack` also takes the alarm's name
(`battery_soc_low:bmv`), which the live view has from the first instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from edged.cli import i18n
from edged.cli.config_file import load_or_report
from edged.cli.i18n import t
from telemetry import queries
from telemetry.database import DatabaseError
from telemetry.store import StoreError, open_db

HISTORY = 20
"""Cleared alarms shown without --all."""
COLUMNS = queries.ALARM_COLUMNS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("alarms", help="list alarms (active first); ack one")
    parser.add_argument("--config")
    parser.add_argument("--all", action="store_true", help="the whole history")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--lang", choices=i18n.LANGS, help="fr (default) or en; or $EDGED_LANG")
    parser.set_defaults(handler=run_list)
    sub = parser.add_subparsers(dest="alarms_command")
    ack = sub.add_parser("ack", help="acknowledge an alarm by its number")
    ack.add_argument("id", help="the alarm's number (#) in `edged alarms`, or its name")
    ack.add_argument("--by", default=None, help="who acknowledges (default: $USER)")
    ack.add_argument("--config", default=argparse.SUPPRESS)
    ack.add_argument("--lang", choices=i18n.LANGS, default=argparse.SUPPRESS)
    ack.set_defaults(handler=run_ack)
    return parser


def _config(args: argparse.Namespace):
    return load_or_report(args.config)


def stored_alarms(db, active_only: bool = False) -> list[dict[str, Any]]:
    """Rows of `alarms` as dicts: active first, then newest first."""
    return queries.alarm_rows(db, active_only)


def list_alarms(db_path: str, everything: bool) -> list[dict[str, Any]]:
    """Active alarms (newest first), then cleared ones (newest first; the last HISTORY)."""
    if not Path(db_path).exists():
        return []
    db = open_db(db_path, readonly=True)
    try:
        rows = stored_alarms(db)
    finally:
        db.conn.close()
    active = [r for r in rows if r["active"]]
    history = [r for r in rows if not r["active"]]
    return active + (history if everything else history[:HISTORY])


def run_list(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 2
    lang = i18n.language(args.lang, config)
    try:
        alarms = list_alarms(config.storage.path, args.all)
    except (StoreError, DatabaseError) as exc:
        print(
            i18n.tr("edged: the database cannot be read: {error}", lang, error=exc), file=sys.stderr
        )
        return 1
    if args.json:
        print(json.dumps(alarms, indent=2, ensure_ascii=False))
    else:
        print(render(alarms, lang, time.time()), end="")
    return 0


def render(alarms: list[dict[str, Any]], lang: str, now: float) -> str:
    active = [a for a in alarms if a["active"]]
    history = [a for a in alarms if not a["active"]]
    lines = [t("alarms_active", lang, n=len(active)) if active else t("alarms_none", lang)]
    lines += [f"  {line(a, lang, now)}" for a in active]
    if history:
        lines += ["", t("alarms_history", lang)]
        lines += [f"  {line(a, lang, now)}" for a in history]
    return "\n".join(lines) + "\n"


def line(alarm: dict[str, Any], lang: str, now: float) -> str:
    """`#3 CRITIQUE depuis 5 min : message [acquittée par Awa]`, for people."""
    message = alarm["message"] if lang == "fr" else alarm["message_en"]
    severity = t(f"severity.{alarm['severity']}", lang)
    if alarm["active"]:
        when = t("alarm_since", lang, ago=i18n.duration(now - alarm["since"], lang))
    else:
        ago = i18n.duration(now - (alarm["cleared"] or alarm["since"]), lang)
        lasted = i18n.duration((alarm["cleared"] or alarm["since"]) - alarm["since"], lang)
        when = t("alarm_cleared", lang, ago=ago, lasted=lasted)
    text = f"#{alarm['id']} {severity} {when}{i18n.tr(':', lang)} {message}"
    if alarm["acked_at"]:
        text += " " + t("alarm_acked", lang, by=alarm["acked_by"] or "?")
    return text


def acknowledge(db_path: str, alarm: int | str, by: str, now: float) -> str:
    """`acked`, `already` (nothing changed) or `unknown`; one short write transaction.

    `alarm` is the row number, or the alarm's name (its newest row: the active one)."""
    by_name = isinstance(alarm, str) and not alarm.isdigit()
    key = alarm if by_name else int(alarm)
    db = open_db(db_path)
    try:
        return queries.acknowledge_alarm(db, key, by, now)[0]
    finally:
        db.conn.close()


def run_ack(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 2
    lang = i18n.language(getattr(args, "lang", None), config)
    if not Path(config.storage.path).exists():
        print(t("no_db", lang, path=config.storage.path), file=sys.stderr)
        return 1
    by = args.by or os.environ.get("SUDO_USER") or os.environ.get("USER") or "?"
    try:
        result = acknowledge(config.storage.path, args.id, by, time.time())
    except (StoreError, DatabaseError) as exc:
        print(
            i18n.tr("edged: the database cannot be written: {error}", lang, error=exc),
            file=sys.stderr,
        )
        return 1
    print(t(f"ack_{result}", lang, id=args.id, by=by))
    return 1 if result == "unknown" else 0
