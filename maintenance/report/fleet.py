"""The national comparison: several sites' report JSONs (`render_json`) side by side.

FENASCOM collects each site's monthly JSON and compares availability, battery wear and cost per
site. Reads only the stable JSON keys, so it works on files from any site running this edged;
a file that is not a report is named in `problems`, never fatal. Pure (texts in, text out).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from html import escape

from maintenance.report.render_json import SCHEMA
from maintenance.report.table import shown

COLUMNS = (
    "site",
    "month",
    "completeness_pct",
    "availability_pct",
    "pv_kwh",
    "load_kwh",
    "equivalent_full_cycles",
    "battery_damage",
    "hours_below_20",
    "alarms",
    "contribution",
    "currency",
    "cost_recovery_pct",
)
HEAD_FR = (
    "site",
    "mois",
    "données %",
    "disponibilité %",
    "solaire kWh",
    "consommation kWh",
    "cycles batterie",
    "usure batterie",
    "h sous 20 %",
    "alarmes",
    "à mettre de côté",
    "monnaie",
    "recouvrement %",
)


DIGITS = {
    "completeness_pct": 2,
    "availability_pct": 2,
    "pv_kwh": 2,
    "load_kwh": 2,
    "equivalent_full_cycles": 2,
    "battery_damage": 6,  # a fraction of the battery's life: ~0.001-0.01 a month
    "hours_below_20": 2,
    "contribution": 2,
    "cost_recovery_pct": 1,
}
"""Decimals each figure is compared at: a site JSON keeps full floats (`5.995499166666666`
cycles), which nobody reads in a comparison table."""


@dataclass(frozen=True, slots=True)
class SiteLine:
    site: str
    month: str
    completeness_pct: float | None
    availability_pct: float | None  # the mean over the site's items with data
    pv_kwh: float | None
    load_kwh: float | None
    equivalent_full_cycles: float | None
    battery_damage: float | None
    hours_below_20: float | None
    alarms: int
    contribution: float | None
    currency: str
    cost_recovery_pct: float | None


def _rounded(key: str, value: object) -> object:
    return round(value, DIGITS[key]) if key in DIGITS and isinstance(value, float) else value


def _line(data: dict) -> SiteLine:
    avail = [
        a["availability_pct"] for a in data["availability"] if a["availability_pct"] is not None
    ]
    battery = data["batteries"][0] if data["batteries"] else {}
    line = SiteLine(
        data["site"],
        data["month"],
        data["quality"]["completeness_pct"],
        round(sum(avail) / len(avail), 2) if avail else None,
        data["energy"]["pv_kwh"],
        data["energy"]["load_kwh"],
        battery.get("equivalent_full_cycles"),
        battery.get("damage"),
        battery.get("hours_below_20"),
        data["alarms"]["count"],
        data["costs"]["contribution"],
        data["costs"]["currency"],
        data["costs"]["cost_recovery_pct"],
    )
    return SiteLine(*(_rounded(k, v) for k, v in asdict(line).items()))


def months(lines: list[SiteLine]) -> list[str]:
    """The distinct months of the lines, sorted: more than one and the comparison is unfair
    (a rainy month against a sunny one), so the command warns."""
    return sorted({x.month for x in lines})


def mixed_months_warning(lines: list[SiteLine], lang: str) -> str | None:
    found = months(lines)
    if len(found) < 2:
        return None
    listed = ", ".join(found)
    return (
        f"attention : les rapports couvrent plusieurs mois ({listed}) ; la comparaison les mélange"
        if lang == "fr"
        else f"warning: the reports cover several months ({listed}); the comparison mixes them"
    )


def combine(texts: list[str]) -> tuple[list[SiteLine], list[str]]:
    """One line per site report (sorted by site, month); problems name the files skipped."""
    lines, problems = [], []
    for index, text in enumerate(texts):
        try:
            data = json.loads(text)
            if data.get("schema") != SCHEMA:
                raise ValueError(f"schema {data.get('schema')!r}, expected {SCHEMA!r}")
            lines.append(_line(data))
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            problems.append(f"input {index}: not a site report ({exc})")
    return sorted(lines, key=lambda x: (x.site, x.month)), problems


def fleet_json(lines: list[SiteLine]) -> str:
    return json.dumps({"sites": [asdict(x) for x in lines]}, ensure_ascii=False, indent=1) + "\n"


def fleet_csv(lines: list[SiteLine]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for x in lines:
        writer.writerow(["" if v is None else v for v in asdict(x).values()])
    return out.getvalue()


def fleet_html(lines: list[SiteLine], lang: str = "fr") -> str:
    title, head = heading(lang)
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(shown(v, lang))}</td>" for v in asdict(x).values()) + "</tr>"
        for x in lines
    )
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    warning = mixed_months_warning(lines, lang)
    note = f'<p style="color:#c0392b">{escape(warning)}</p>' if warning else ""
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}'
        "</title><style>table{border-collapse:collapse}td,th{padding:2px 6px;border:1px solid"
        f" #ddd}}</style></head><body><h1>{title}</h1>{note}<table><tr>{cells}</tr>{rows}"
        "</table></body></html>\n"
    )


def heading(lang: str) -> tuple[str, tuple[str, ...]]:
    """The comparison's title and column heads in `lang` (for the HTML and the PDF)."""
    title = "Comparaison nationale des sites" if lang == "fr" else "National comparison of sites"
    return title, HEAD_FR if lang == "fr" else COLUMNS
