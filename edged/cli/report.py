"""`edged report`: the month's equipment-health and cost report for FENASCOM, as files.

    edged report --month 2026-10 [--config F] [--format pdf,html,csv,json] [--out DIR]
                 [--lang fr|en] [--registry R.toml] [--db PATH] [--site NAME]
                 [--health-interval S]
    edged report --fleet SITE.json... --out DIR      (national comparison)

Argument handling only: the report itself is `edged.services.report.generate`'s, shared with
the daemon. Reads the daemon's database read-only (beside a running daemon). The equipment
registry is the config's `[[equipment]]`, or `--registry`'s when given (a TOML file with
`[[equipment]]`, `[[maintenance_log]]` and `[budget]`, docs/report.md); the maintenance log is
the visits recorded in the database (`edged maintenance log`) plus any `--registry` entries; the
budget is `--registry`'s `[budget]`, else the config's `[budget]`. With both `--db` and
`--site` and no `--config`, no config is read (no `[[equipment]]` then).
`add_parser` is wired into `edged.cli`; `main(argv)` runs it alone (`python -m edged.cli.report`).
Exit status: 0 written, 1 data could not be read, 2 bad arguments or registry.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from dataclasses import replace
from pathlib import Path

from edged.cli import config_problems, i18n
from edged.cli.i18n import tr
from edged.config.loader import ConfigError, config_path
from edged.config.loader import load as load_config
from edged.config.settings import Config
from edged.config.site import SiteConfig, StorageConfig
from edged.services.report import FORMATS, generate, write_atomic
from maintenance.report.figures import Budget
from maintenance.report.fleet import (
    combine,
    fleet_csv,
    fleet_html,
    fleet_json,
    mixed_months_warning,
)
from maintenance.report.month import parse_month
from maintenance.report.registry import validate_equipment, validate_log
from telemetry.store import StoreError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("report", help="monthly equipment and cost report (files)")
    _arguments(parser)
    parser.set_defaults(handler=run)
    return parser


def _arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--month", help="YYYY-MM (UTC)")
    what.add_argument("--fleet", nargs="+", metavar="JSON", help="site report JSONs to compare")
    parser.add_argument("--config")
    parser.add_argument("--db", help="database path (default: the config's storage.path)")
    parser.add_argument("--site", help="site name in the report (default: the config's site.id)")
    parser.add_argument(
        "--health-interval",
        type=float,
        help="s between health rounds (default: measured from the stored rounds)",
    )
    parser.add_argument("--registry", help="TOML: [[equipment]], [[maintenance_log]], [budget]")
    parser.add_argument("--format", default="pdf,html,csv,json", help="comma-separated")
    parser.add_argument("--out", default=".", help="output directory")
    parser.add_argument("--lang", choices=i18n.LANGS, help="fr (default) or en; or $EDGED_LANG")


def _registry(path: str | None) -> tuple[list, list, Budget | None, list[str]]:
    """Items, log, budget (None: no `[budget]` table) and problems (as `key: expected a ...`
    lines) from the TOML file."""
    if path is None:
        return [], [], None, []
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return [], [], None, [f"{path}: {exc}"]
    items, problems = validate_equipment(raw.get("equipment", []))
    log, log_problems = validate_log(raw.get("maintenance_log", []), {i.item for i in items})
    budget = raw.get("budget", {})
    fees, data = budget.get("fees_collected"), budget.get("uplink_bytes")
    found = [f"{key}: expected {what}" for key, what in problems + log_problems]
    if fees is not None and not isinstance(fees, int | float):
        found.append("budget.fees_collected: expected a number")
    if data is not None and not isinstance(data, int):
        found.append("budget.uplink_bytes: expected an integer")
    return items, log, Budget(data, fees) if "budget" in raw else None, found


def _settings(args: argparse.Namespace, items: list, budget: Budget | None) -> Config | None:
    """The config (or one made of `--db` and `--site`), with the arguments applied over it."""
    if args.db and args.site and not args.config:
        config = Config(SiteConfig(args.site), StorageConfig(path=args.db))
    else:
        try:
            config = load_config(config_path(args.config))
        except ConfigError as exc:
            print(config_problems.report(exc, i18n.language(args.lang)), file=sys.stderr)
            return None
    changes: dict = {}
    if args.db:
        changes["storage"] = replace(config.storage, path=args.db)
    if args.site:
        changes["site"] = replace(config.site, id=args.site)
    if args.registry is not None:
        changes["equipment"] = tuple(items)
    if budget is not None:
        changes["budget"] = budget
    return replace(config, **changes)


def run(args: argparse.Namespace) -> int:
    lang = i18n.language(args.lang)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    if bad := [f for f in formats if f not in FORMATS]:
        print(
            tr(
                "--format: unknown {bad}; use {formats}",
                lang,
                bad=", ".join(map(repr, bad)),
                formats=",".join(FORMATS),
            ),
            file=sys.stderr,
        )
        return 2
    every = args.health_interval
    if every is not None and not 0 < every < float("inf"):
        print(
            tr("--health-interval: expected seconds > 0, got {value}", lang, value=repr(every)),
            file=sys.stderr,
        )
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.fleet:
        return _fleet(args.fleet, formats, out, lang)
    try:
        parse_month(args.month)
    except ValueError:
        print(
            tr("--month: expected YYYY-MM, got {value!r}", lang, value=args.month), file=sys.stderr
        )
        return 2
    items, log, budget, problems = _registry(args.registry)
    config = None if problems else _settings(args, items, budget)
    if config is None:
        print("\n".join(problems), file=sys.stderr)
        return 2
    lang = i18n.language(args.lang, config)
    try:
        written, _ = generate(
            config,
            args.month,
            out,
            formats,
            lang,
            log=log,
            health_interval=every,
            now=time.time(),  # a month not over yet: days to come are not gaps
        )
    except StoreError as exc:
        print(tr("edged: the database cannot be read: {error}", lang, error=exc), file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def _fleet(files: list[str], formats: list[str], out: Path, lang: str) -> int:
    texts = []
    for name in files:
        try:
            texts.append(Path(name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            print(
                tr(
                    "edged: cannot read {path}: {error}",
                    lang,
                    path=name,
                    error=i18n.os_reason(exc, lang),
                ),
                file=sys.stderr,
            )
            return 1
    lines, problems = combine(texts)
    for problem in problems:
        name = files[int(problem.split()[1].rstrip(":"))]  # "input N: why", N into `files`
        print(tr("{file}: not a monthly site report of edged", lang, file=name), file=sys.stderr)
    if warning := mixed_months_warning(lines, lang):
        print(warning, file=sys.stderr)
    for fmt in formats:  # every format `run` accepted: none is silently skipped
        path = out / f"fleet.{fmt}"
        write_atomic(path, _fleet_render(lines, fmt, lang))
        print(path)
    return 1 if problems and not lines else 0


def _fleet_render(lines: list, fmt: str, lang: str) -> bytes:
    if fmt == "pdf":
        from maintenance.report.render_pdf import fleet_pdf  # fpdf2: only when a PDF is asked

        return fleet_pdf(lines, lang)
    makers = {"json": fleet_json, "csv": fleet_csv, "html": lambda x: fleet_html(x, lang)}
    return makers[fmt](lines).encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edged report")
    _arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
