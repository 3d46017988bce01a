"""The report's one-paragraph summary, in French and English, for people who are not technicians.

Short sentences, the few figures that decide something (did the power last, is the battery
wearing, what to set aside), and the data problems said plainly so nobody trusts a figure the
data cannot carry. Pure.
"""

from __future__ import annotations

import datetime as dt

from maintenance.report.model import Quality
from maintenance.report.month import bounds


def number(value: float | None, lang: str, digits: int = 1) -> str:
    """A figure as people of `lang` write it (French: decimal comma, thin space thousands)."""
    if value is None:
        return "pas de données" if lang == "fr" else "no data"
    text = f"{value:,.{digits}f}"
    if lang == "fr":
        text = text.replace(",", " ").replace(".", ",")
    return text


def _quality(q: Quality, month: str, lang: str) -> list[str]:
    fr = lang == "fr"
    if "no_data" in q.notes:
        return [
            "Aucune donnée enregistrée ce mois : aucun chiffre ne peut être calculé."
            if fr
            else "No data was recorded this month: no figure can be computed."
        ]
    out = [
        f"Les données couvrent {number(q.completeness_pct, lang)} % du mois."
        if fr
        else f"Data covers {number(q.completeness_pct, lang)} % of the month."
    ]
    if "month_in_progress" in q.notes:
        until = dt.datetime.fromtimestamp(bounds(month)[0] + q.period_h * 3600, dt.UTC)
        stamp = until.strftime("%Y-%m-%d %H:%M")
        out[0:0] = [
            f"Mois en cours : chiffres arrêtés au {stamp} UTC, jours à venir non comptés."
            if fr
            else f"Month in progress: figures up to {stamp} UTC, days to come not counted."
        ]
    missing = len(q.days_with_gaps) + len(q.days_without_data)
    if missing:
        out.append(
            f"{missing} jours ont des trous : les totaux sont des minimums."
            if fr
            else f"{missing} days have gaps: totals are lower bounds."
        )
    if "clock_jump" in q.notes or "unsynced" in q.notes:
        out.append(
            "L'horloge du PiBox a sauté ou n'était pas à l'heure : certaines heures sont"
            " incertaines."
            if fr
            else "The PiBox clock jumped or was not set: some times are uncertain."
        )
    return out


def _jobs(jobs, lang: str) -> list[str]:
    """Backups that failed or waited for energy: what a clinic must know about its data."""
    out = []
    for j in jobs or ():
        if j.failed or j.deferred:
            out.append(
                f"« {j.job} » : {j.ok} réussie(s), {j.failed} en échec, reportée {j.deferred}"
                " jour(s) faute d'énergie."
                if lang == "fr"
                else f"'{j.job}': {j.ok} succeeded, {j.failed} failed, deferred on"
                f" {j.deferred} day(s) for lack of energy."
            )
    return out


def summaries(site: str, month: str, **s) -> tuple[str, str]:
    """(French, English) paragraphs from the report's sections (keyword arguments)."""
    return _paragraph(site, month, "fr", s), _paragraph(site, month, "en", s)


def _paragraph(site: str, month: str, lang: str, s: dict) -> str:
    fr = lang == "fr"
    out = [f"{site}, {month}."]
    out += _quality(s["quality"], month, lang)
    e = s["energy"]
    if e.pv_kwh is not None:
        out.append(
            f"Les panneaux ont produit {number(e.pv_kwh, lang)} kWh"
            + (
                f", les appareils en ont consommé {number(e.load_kwh, lang)}."
                if e.load_kwh is not None
                else "."
            )
            if fr
            else f"The panels produced {number(e.pv_kwh, lang)} kWh"
            + (f", the loads used {number(e.load_kwh, lang)}." if e.load_kwh is not None else ".")
        )
    if e.days_not_full:
        out.append(
            f"La batterie n'a pas été pleinement rechargée {e.days_not_full} jours."
            if fr
            else f"The battery was not fully recharged on {e.days_not_full} days."
        )
    for b in s["batteries"]:
        if b.equivalent_full_cycles is not None:
            out.append(
                f"La batterie a fait {number(b.equivalent_full_cycles, lang)} cycles complets"
                f" équivalents ; sa charge est descendue au plus bas à"
                f" {number(b.soc_min, lang, 0)} %."
                if fr
                else f"The battery did {number(b.equivalent_full_cycles, lang)} equivalent"
                f" full cycles; its charge went down to {number(b.soc_min, lang, 0)} %."
            )
    a = s["alarms"]
    if a.count:
        out.append(
            f"{a.count} alarme(s) ce mois, dont {a.still_open} encore ouverte(s)."
            if fr
            else f"{a.count} alarm(s) this month, {a.still_open} still open."
        )
    out += _jobs(s.get("jobs"), lang)
    c = s["costs"]
    if c.contribution is None:
        out.append(
            "Aucun matériel enregistré avec son coût : pas de montant à mettre de côté calculé."
            if fr
            else "No equipment registered with its cost: no amount to set aside computed."
        )
        return " ".join(out)
    out.append(
        f"À mettre de côté ce mois pour l'entretien et le remplacement du matériel :"
        f" {number(c.contribution, lang, 0)} {c.currency}."
        if fr
        else f"To set aside this month for upkeep and replacement of the equipment:"
        f" {number(c.contribution, lang, 0)} {c.currency}."
    )
    if c.cost_recovery_pct is not None:
        out.append(
            f"Les cotisations en couvrent {number(c.cost_recovery_pct, lang, 0)} %."
            if fr
            else f"Fees collected cover {number(c.cost_recovery_pct, lang, 0)} % of it."
        )
    return " ".join(out)
