"""`edged maintenance log` / `list`: the technician's visits, kept in the daemon's database.

    edged maintenance log --item ID --action TEXT [--date YYYY-MM-DD] [--parts-cost N]
                          [--labour-cost N] [--note TEXT] [--config F]
    edged maintenance list [--month YYYY-MM] [--json] [--config F]

A visit is typed on the PiBox, where the database already lives and is backed up, rather than
in a TOML file someone must edit and keep. `log` writes one row in a short transaction from this
process, as `edged alarms ack` does: the database is WAL with a busy timeout, the Writer's
transactions last milliseconds and a visit is rare, so this second writer never waits long. The
item must be one of the config's `[[equipment]]`; the entry is checked by the report's own
`validate_log`, so the rules live in one place. `edged report` reads the rows back
(`telemetry.queries.maintenance_rows`).
Exit status: 0 done, 1 database unusable, 2 bad arguments or config.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from edged.cli import i18n
from edged.cli.config_file import load_or_report
from edged.cli.i18n import N_, tr
from maintenance.report.month import parse_month
from maintenance.report.registry import DEFAULT_CURRENCY, LogEntry, validate_log
from telemetry.database import DatabaseError
from telemetry.queries import add_maintenance, maintenance_rows
from telemetry.store import StoreError, open_db

_FLAGS = {
    "date": "--date",
    "item": "--item",
    "action": "--action",
    "note": "--note",
    "parts_cost": "--parts-cost",
    "labour_cost": "--labour-cost",
}
EXPECTED = [  # what `validate_log` says is expected, for the catalogue
    N_("a date (YYYY-MM-DD)"),
    N_("the name of an [[equipment]] item"),
    N_("a non-empty string"),
    N_("a number >= 0"),
    N_("a string"),
]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("maintenance", help="record and list maintenance visits")
    sub = parser.add_subparsers(dest="maintenance_command", required=True)
    log = sub.add_parser("log", help="record one visit to an [[equipment]] item")
    log.add_argument("--item", required=True, help="the item's name in [[equipment]]")
    log.add_argument("--action", required=True, help="what was done")
    log.add_argument("--date", help="YYYY-MM-DD (default: today, UTC)")
    log.add_argument("--parts-cost", type=float, default=0.0)
    log.add_argument("--labour-cost", type=float, default=0.0)
    log.add_argument("--note", default="")
    log.add_argument("--config")
    log.add_argument("--lang", choices=i18n.LANGS, help="fr (default) or en; or $EDGED_LANG")
    log.set_defaults(handler=run_log)
    listing = sub.add_parser("list", help="the recorded visits, oldest first")
    listing.add_argument("--month", help="YYYY-MM: only that month's visits")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument("--config")
    listing.add_argument("--lang", choices=i18n.LANGS, help="fr (default) or en; or $EDGED_LANG")
    listing.set_defaults(handler=run_list)
    return parser


def check_entry(
    args: argparse.Namespace, items: set[str], lang: str = "en"
) -> tuple[LogEntry | None, list[str]]:
    """The entry the arguments describe, or the problems as `--flag : il faut …` lines."""
    raw = {
        "date": args.date or dt.datetime.now(dt.UTC).date().isoformat(),
        "item": args.item,
        "action": args.action,
        "parts_cost": args.parts_cost,
        "labour_cost": args.labour_cost,
        "note": args.note,
    }
    entries, problems = validate_log([raw], items, key="log")
    lines = [
        tr(
            "{flag}: expected {what}",
            lang,
            flag=_FLAGS[path.rsplit(".", 1)[1]],
            what=tr(what, lang),
        )
        for path, what in problems
    ]
    return (entries[0] if entries else None), lines


def record(db_path: str, entry: LogEntry, currency: str, now: float) -> int:
    """Store one visit, in one short write transaction; its row id."""
    db = open_db(db_path)
    try:
        return add_maintenance(db, entry.row(currency, now))
    finally:
        db.conn.close()


def _config(path: str | None):
    return load_or_report(path)


def run_log(args: argparse.Namespace) -> int:
    config = _config(args.config)
    if config is None:
        return 2
    lang = i18n.language(args.lang, config)
    items = {i.item: i for i in config.equipment}
    entry, problems = check_entry(args, set(items), lang)
    if entry is None:
        if not items:
            problems.append(
                tr("{file}: no [[equipment]] item is configured", lang, file=config.source)
            )
        elif args.item not in items:
            problems.append(tr("items: {names}", lang, names=", ".join(sorted(items))))
        print("\n".join(problems), file=sys.stderr)
        return 2
    currency = getattr(items[entry.item], "currency", DEFAULT_CURRENCY)
    try:
        row = record(config.storage.path, entry, currency, time.time())
    except (StoreError, DatabaseError) as exc:
        print(
            tr("edged: the database cannot be written: {error}", lang, error=exc), file=sys.stderr
        )
        return 1
    cost = i18n.number(entry.cost, lang)
    print(f"#{row} {entry.date} {entry.item}{tr(':', lang)} {entry.action} ({cost} {currency})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    lang = i18n.language(args.lang)  # the config is read after the arguments are checked
    if args.month:
        try:
            parse_month(args.month)
        except ValueError:
            print(
                tr("--month: expected YYYY-MM, got {value!r}", lang, value=args.month),
                file=sys.stderr,
            )
            return 2
    config = _config(args.config)
    if config is None:
        return 2
    lang = i18n.language(args.lang, config)
    rows: list[dict[str, Any]] = []
    try:
        if Path(config.storage.path).exists():
            db = open_db(config.storage.path, readonly=True)
            try:
                rows = maintenance_rows(db, args.month)
            finally:
                db.conn.close()
    except (StoreError, DatabaseError) as exc:
        print(tr("edged: the database cannot be read: {error}", lang, error=exc), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    elif not rows:
        print(
            tr("No maintenance visit recorded in {month}.", lang, month=args.month)
            if args.month
            else tr("No maintenance visit recorded yet.", lang)
        )
    else:
        print("".join(f"{_line(r, lang)}\n" for r in rows), end="")
    return 0


def _line(row: dict[str, Any], lang: str) -> str:
    cost = i18n.number(row["parts_cost"] + row["labour_cost"], lang)
    note = f"  ({row['note']})" if row["note"] else ""
    head = f"#{row['id']} {row['date']} {row['item']}{tr(':', lang)} {row['action']}"
    return f"{head}, {cost} {row['currency']}{note}"
