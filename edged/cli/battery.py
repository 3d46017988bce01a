"""`edged battery`: health figures of each `[[batteries]]` bank from the stored records.

    edged battery [--config F] [--id BANK] [--days 30] [--json] [--lang fr|en]

Reads the daemon's database read-only (beside a running daemon): the records of the bank's
virtual device, or of its monitor when the bank has none yet (a measured bank configured after
the monitor's history was stored). The figures and their formulas: docs/battery.md, section 2.
Exit status: 0 printed, 1 database unreadable, 2 bad config or unknown bank.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from edged.cli import i18n
from edged.cli.config_file import load_or_report
from edged.cli.i18n import N_, tr
from edged.config.batteries import BatteryConfig
from edged.config.settings import Config
from edged.readings import Record
from maintenance.energy.battery_health import BatteryHealth, battery_health
from telemetry import queries
from telemetry.database import DatabaseError
from telemetry.store import StoreError, open_db

LABELS = {
    "observed_h": N_("Hours observed"),
    "equivalent_full_cycles": N_("Equivalent full cycles"),
    "discharged_ah": N_("Ah discharged"),
    "hours_below_20": N_("Hours below 20 %"),
    "hours_below_40": N_("Hours below 40 %"),
    "hours_above_40c": N_("Hours above 40 °C"),
    "imbalance_slope_mv_day": N_("Cell imbalance trend"),
    "capacity_ah": N_("Measured capacity"),
    "capacity_fade_pct": N_("Capacity fade"),
    "remaining_life_days": N_("Remaining life (cycling)"),
    "remaining_life_throughput_days": N_("Remaining life (throughput)"),
}
TEXT = {
    "bank": N_("Battery {id} ({chem}, {v} V, {ah:g} Ah), SOC {src}, last {days:g} days"),
    "estimated": N_("estimated"),
    "measured": N_("measured"),
    "unknown": N_("unknown"),
    "dod": N_("Cycles by depth of discharge"),
    "records": N_("{n} records, {gaps} gaps"),
    "no_bank": N_("No bank configured ([[batteries]])."),
}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("battery", help="battery health figures of each bank")
    parser.add_argument("--config")
    parser.add_argument("--id", help="one bank (default: every [[batteries]] bank)")
    parser.add_argument("--days", type=float, default=30.0, help="history to use (default 30)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--lang", choices=i18n.LANGS, help="fr (default) or en; or $EDGED_LANG")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 2
    lang = i18n.language(args.lang, config)
    banks = [b for b in config.batteries if args.id in (None, b.id)]
    if args.id is not None and not banks:
        print(
            tr("{file}: no [[batteries]] bank {bank!r}", lang, file=config.source, bank=args.id),
            file=sys.stderr,
        )
        return 2
    try:
        results = [figures(config, bank, args.days, time.time()) for bank in banks]
    except (StoreError, DatabaseError) as exc:
        print(tr("edged: the database cannot be read: {error}", lang, error=exc), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"banks": results}, indent=2, ensure_ascii=False))
    else:
        print(render(results, lang), end="")
    return 0


def figures(config: Config, bank: BatteryConfig, days: float, now: float) -> dict[str, Any]:
    """One bank's figures as plain data (the --json output): each figure with its unit."""
    records, device = bank_records(config.storage.path, bank, now - days * 86400.0)
    health = battery_health(
        records, bank.capacity_ah, bank.chemistry, interval_s=config.telemetry.publish_interval
    )
    return {
        "id": bank.id,
        "device": device,
        "soc_source": "measured" if bank.monitor else "estimated",
        "chemistry": bank.chemistry,
        "nominal_voltage": bank.nominal_voltage,
        "capacity_ah": bank.capacity_ah,
        "days": days,
        "figures": _plain(health),
    }


def bank_records(db_path: str, bank: BatteryConfig, since: float) -> tuple[list[Record], str]:
    """(time-ordered records since `since`, the device they are of)."""
    if not Path(db_path).exists():
        return [], bank.id
    db = open_db(db_path, readonly=True)
    try:
        for device in (bank.id, bank.monitor):
            if device is None:
                continue
            records = queries.device_records_since(db, device, since)
            if records:
                return records, device
    finally:
        db.conn.close()
    return [], bank.id


def _plain(health: BatteryHealth) -> dict[str, dict[str, Any]]:
    out = {}
    for name, (value, unit) in health.figures().items():
        if name == "dod_histogram" and value is not None:
            value = [dataclasses.asdict(b) for b in value]
        elif isinstance(value, tuple):
            value = [list(v) for v in value]
        out[name] = {"value": value, "unit": unit}
    return out


def render(results: list[dict[str, Any]], lang: str) -> str:
    """The figures as text for a technician, French by default."""
    if not results:
        return tr(TEXT["no_bank"], lang) + "\n"
    colon = tr(":", lang)
    lines: list[str] = []
    for r in results:
        src = tr(TEXT[r["soc_source"]], lang)
        lines.append(
            tr(
                TEXT["bank"],
                lang,
                id=r["id"],
                chem=r["chemistry"],
                src=src,
                v=r["nominal_voltage"],
                ah=r["capacity_ah"],
                days=r["days"],
            )
        )
        figs = r["figures"]
        records = tr(TEXT["records"], lang, n=figs["records"]["value"], gaps=figs["gaps"]["value"])
        lines.append("  " + records)
        for name, label in LABELS.items():
            value, unit = figs[name]["value"], figs[name]["unit"]
            lines.append(f"  {tr(label, lang)}{colon} {_number(value, unit, lang)}")
        hist = figs["dod_histogram"]["value"]
        if hist:
            bins = ", ".join(
                f"{b['low_pct']:g}-{b['high_pct']:g} %{colon} {_fmt(b['cycles'], lang)}"
                for b in hist
                if b["cycles"]
            )
            lines.append(f"  {tr(TEXT['dod'], lang)}{colon} {bins or '-'}")
        lines.append("")
    return "\n".join(lines)


def _number(value: Any, unit: str, lang: str) -> str:
    if value is None:
        return tr(TEXT["unknown"], lang)
    unit = {"days": "jours"}.get(unit, unit) if lang == "fr" else unit
    return f"{_fmt(value, lang)} {unit}"


def _fmt(value: float, lang: str) -> str:
    text = f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"
    return text.replace(".", ",") if lang == "fr" else text
