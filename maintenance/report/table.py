"""The report as rows (section, item, figure, value, unit), with French and English labels.

One flattening shared by the CSV, the HTML tables and the PDF, so the three carry the same
figures; the JSON is the dataclass tree itself (`render_json`). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass

from maintenance.report.model import Report
from maintenance.report.summary import number

SECTIONS: dict[str, tuple[str, str]] = {
    "quality": ("Qualité des données", "Data quality"),
    "availability": ("Disponibilité du matériel", "Equipment availability"),
    "energy": ("Énergie", "Energy"),
    "energy_daily": ("Énergie par jour", "Energy per day"),
    "battery": ("Batterie", "Battery"),
    "alarms": ("Alarmes", "Alarms"),
    "pibox": ("PiBox et OpenClinic", "PiBox and OpenClinic"),
    "jobs": ("Sauvegardes et synchronisations", "Backups and syncs"),
    "glasses": ("Lunettes connectées", "Smart glasses"),
    "uplink": ("Liaison de données", "Data uplink"),
    "costs": ("Coûts et cotisations", "Costs and fees"),
}

LABELS: dict[str, tuple[str, str]] = {
    "records": ("enregistrements", "records"),
    "records_unsynced": ("enregistrements sans heure sûre", "records without a trusted clock"),
    "clock_jumps": ("sauts d'horloge", "clock jumps"),
    "gaps": ("interruptions", "gaps"),
    "online_h": ("heures enregistrées", "hours recorded"),
    "completeness_pct": ("données complètes", "data completeness"),
    "days_with_gaps": ("jours avec trous", "days with gaps"),
    "days_without_data": ("jours sans données", "days without data"),
    "measured_h": ("heures mesurées", "hours measured"),
    "availability_pct": ("disponibilité", "availability"),
    "pv_kwh": ("production solaire", "solar production"),
    "load_kwh": ("consommation", "consumption"),
    "charge_kwh": ("énergie chargée", "energy charged"),
    "discharge_kwh": ("énergie déchargée", "energy discharged"),
    "battery_source": ("charge et décharge mesurées par", "charge and discharge measured by"),
    "days_not_full": ("jours sans pleine charge", "days without a full charge"),
    "soc_max": ("charge maximale", "highest charge"),
    "equivalent_full_cycles": ("cycles complets équivalents", "equivalent full cycles"),
    "discharged_ah": ("Ah déchargés", "Ah discharged"),
    "soc_min": ("charge minimale", "lowest charge"),
    "hours_below_20": ("heures sous 20 %", "hours below 20 %"),
    "hours_below_40": ("heures sous 40 %", "hours below 40 %"),
    "hours_above_40c": ("heures au-dessus de 40 °C", "hours above 40 °C"),
    "temperature_max": ("température maximale", "highest temperature"),
    "temperature_mean": ("température moyenne", "mean temperature"),
    "damage": ("usure du mois (fraction de vie)", "wear this month (fraction of life)"),
    "remaining_life_days": ("vie restante (cycles)", "remaining life (cycling)"),
    "remaining_life_throughput_days": ("vie restante (débit)", "remaining life (throughput)"),
    "dod": ("cycles de profondeur", "cycles of depth"),
    "count": ("nombre", "count"),
    "still_open": ("encore ouvertes", "still open"),
    "acked": ("acquittées", "acknowledged"),
    "critical": ("critiques", "critical"),
    "hours": ("heures", "hours"),
    "hours_in_month": ("heures ce mois", "hours this month"),
    "rounds": ("relevés", "health rounds"),
    "uptime_pct": ("temps de marche", "uptime"),
    "reboots": ("redémarrages", "reboots"),
    "openclinic_pct": ("OpenClinic disponible", "OpenClinic available"),
    "disk_first_pct": ("disque au début", "disk at start"),
    "disk_last_pct": ("disque à la fin", "disk at end"),
    "disk_trend_pct_day": ("tendance du disque", "disk trend"),
    "undervoltage_events": ("sous-tensions", "under-voltage events"),
    "runs": ("exécutions", "runs"),
    "ok": ("réussies", "succeeded"),
    "failed": ("échouées", "failed"),
    "deferred": ("jours reportés", "days deferred"),
    "days_seen": ("jours vues", "days seen"),
    "charge_sessions": ("charges", "charge sessions"),
    "hours_of_use": ("heures d'utilisation", "hours of use"),
    "bytes_month": ("octets ce mois", "bytes this month"),
    "budget_bytes": ("forfait", "budget"),
    "budget_used_pct": ("forfait utilisé", "budget used"),
    "amortisation": ("amortissement", "amortisation"),
    "battery_wear": ("provision batterie", "battery provision"),
    "maintenance_spent": ("entretien dépensé", "maintenance spent"),
    "maintenance_reserve": ("réserve d'entretien", "maintenance reserve"),
    "contribution": ("à mettre de côté", "to set aside"),
    "fees_collected": ("cotisations reçues", "fees collected"),
    "cost_recovery_pct": ("recouvrement des coûts", "cost recovery"),
}

UNITS = {
    "_kwh": "kWh",
    "_h": "h",
    "_pct": "%",
    "_days": "days",
    "_ah": "Ah",
    "_pct_day": "%/day",
    "hours": "h",
    "hours_below_20": "h",
    "hours_below_40": "h",
    "hours_above_40c": "h",
    "hours_in_month": "h",
    "hours_of_use": "h",
    "soc_max": "%",
    "soc_min": "%",
    "temperature_max": "°C",
    "temperature_mean": "°C",
    "bytes_month": "B",
    "budget_bytes": "B",
    "dod": "cycles",
    "deferred": "days",
    "equivalent_full_cycles": "cycles",
}

DAYS = ("days_with_gaps", "days_without_data")  # lists of dates, shown as text
NO_DATA = {"fr": "pas de données", "en": "no data"}


@dataclass(frozen=True, slots=True)
class Row:
    section: str
    item: str
    figure: str
    value: object
    unit: str


def unit_of(figure: str) -> str:
    if figure in UNITS:
        return UNITS[figure]
    suffix = max(
        (s for s in UNITS if s.startswith("_") and figure.endswith(s)), key=len, default=""
    )
    return UNITS.get(suffix, "")


def label(key: str, lang: str) -> str:
    pair = LABELS.get(key) or SECTIONS.get(key)
    return pair[lang == "en"] if pair else key


def _scalars(section: str, item: str, obj, skip: tuple[str, ...] = ()) -> list[Row]:
    out = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if (
            f.name in skip
            or is_dataclass(value)
            or (isinstance(value, tuple) and f.name not in DAYS)
        ):
            continue
        if isinstance(value, tuple):
            value = " ".join(value)
        out.append(Row(section, item, f.name, value, unit_of(f.name)))
    return out


def rows(report: Report) -> list[Row]:
    """Every figure of the report, in reading order."""
    out = _scalars("quality", "*", report.quality, ("period_h", "notes"))
    for a in report.availability:
        out += _scalars("availability", a.item, a, ("item", "category", "measured_by"))
    out += _scalars("energy", "*", report.energy)
    for d in report.energy.days:
        out += _scalars("energy_daily", d.date, d, ("date",))
    for b in report.batteries:
        out += _scalars("battery", b.item, b, ("item", "device", "efc_method"))
        for low, high, cycles in b.dod_histogram or ():
            out.append(Row("battery", b.item, f"dod_{low:g}_{high:g}", cycles, "cycles"))
    out += _scalars("alarms", "*", report.alarms)
    for line in report.alarms.lines:
        skip = ("alarm_id", "since", "cleared", "message_fr", "message_en")
        out += _scalars("alarms", line.alarm_id, line, skip)
    out += _scalars("pibox", "*", report.pibox)
    if report.jobs is None:
        out.append(Row("jobs", "*", "runs", None, ""))
    for j in report.jobs or ():
        out += _scalars("jobs", j.job, j, ("job", "last_ok"))
    for g in report.glasses:
        out += _scalars("glasses", g.item, g, ("item",))
    out += _scalars("uplink", "*", report.uplink)
    c = report.costs
    out += [Row("costs", ln.item, ln.kind, ln.amount, c.currency) for ln in c.lines]
    out += [
        Row("costs", "*", "contribution", c.contribution, c.currency),
        Row("costs", "*", "fees_collected", c.fees_collected, c.currency),
        Row("costs", "*", "cost_recovery_pct", c.cost_recovery_pct, "%"),
    ]
    return out


def shown(value: object, lang: str, digits: int = 2) -> str:
    """A value as a person reads it: "pas de données" for None, numbers rounded."""
    if value is None:
        return NO_DATA[lang]
    if isinstance(value, bool):
        return ("oui" if value else "non") if lang == "fr" else ("yes" if value else "no")
    if isinstance(value, int):
        return number(value, lang, 0)
    if isinstance(value, float):
        return number(value, lang, digits)
    return str(value)
