"""The maintenance-cost model: what a site should set aside each month to keep its equipment.

Three parts, each a figure with its formula and its assumptions in French and English, so that
FENASCOM can check the arithmetic and change the inputs (docs/report.md, "Cost model"):
- straight-line amortisation of every item: purchase cost / life in months, from the install
  month until the end of its life, zero after;
- the battery: wear-based provision (this month's equivalent full cycles / lifetime cycles ×
  replacement cost; lifetime cycles from the item or `maintenance.energy.chemistry`), or the
  calendar amortisation if that is larger (a battery dies of age or of cycling, whichever comes
  first);
- maintenance: spent this month (from the log) and a reserve = the log's last 12 months / 12.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from maintenance.energy.chemistry import profile
from maintenance.report.month import months_since, parse_month
from maintenance.report.registry import DEFAULT_CURRENCY, Category, Item, LogEntry

RESERVE_MONTHS = 12


@dataclass(frozen=True, slots=True)
class CostLine:
    """One figure of the cost model; `amount` None means the data cannot support it."""

    item: str
    kind: str  # amortisation, battery_wear, maintenance_spent, maintenance_reserve
    amount: float | None
    formula_fr: str
    formula_en: str
    assumptions_fr: str
    assumptions_en: str


@dataclass(frozen=True, slots=True)
class Costs:
    currency: str
    lines: tuple[CostLine, ...]
    maintenance_spent: float
    contribution: float | None  # what to set aside this month; None: no item with a known cost
    fees_collected: float | None
    cost_recovery_pct: float | None  # fees collected / contribution


def _money(x: float) -> str:
    return f"{x:,.0f}".replace(",", " ")


def amortisation(item: Item, month: str) -> CostLine:
    """Purchase cost / (life in months) while the item is within its life, zero otherwise."""
    if not item.expected_life_years:
        return CostLine(
            item.item,
            "amortisation",
            None,
            "pas de durée de vie attendue",
            "no expected life",
            "non amorti : ajoutez expected_life_years",
            "not amortised: set expected_life_years",
        )
    life_months = round(item.expected_life_years * 12)
    age = None if item.install_date is None else months_since(item.install_date, month)
    within = age is None or 0 <= age < life_months
    amount = item.purchase_cost / life_months if within else 0.0
    cost = _money(item.purchase_cost)
    when_fr = (
        "date d'installation inconnue : supposé en service"
        if age is None
        else (f"{age + 1}e mois sur {life_months}" if within else "hors durée de vie : 0")
    )
    when_en = (
        "install date unknown: assumed in service"
        if age is None
        else (f"month {age + 1} of {life_months}" if within else "outside its life: 0")
    )
    return CostLine(
        item.item,
        "amortisation",
        round(amount, 2),
        f"{cost} {item.currency} / {life_months} mois",
        f"{cost} {item.currency} / {life_months} months",
        f"amortissement linéaire sur {item.expected_life_years:g} ans ; {when_fr}",
        f"straight line over {item.expected_life_years:g} years; {when_en}",
    )


def lifetime_cycles(item: Item) -> float | None:
    """Equivalent full cycles over the battery's life: the item's figure, else its chemistry's."""
    if item.expected_cycles:
        return item.expected_cycles
    return profile(item.chemistry).lifetime_throughput_efc if item.chemistry else None


def battery_provision(item: Item, month: str, efc_month: float | None) -> CostLine:
    """max(wear, calendar): wear = EFC this month / lifetime EFC × replacement cost."""
    calendar = amortisation(item, month).amount
    life = lifetime_cycles(item)
    wear = None if efc_month is None or not life else efc_month / life * item.purchase_cost
    amounts = [a for a in (wear, calendar) if a is not None]
    amount = max(amounts) if amounts else None
    cost = _money(item.purchase_cost)
    efc = "?" if efc_month is None else f"{efc_month:.2f}"
    source_fr = "fiche de l'article" if item.expected_cycles else f"chimie {item.chemistry}"
    source_en = "item's datasheet" if item.expected_cycles else f"{item.chemistry} chemistry"
    cal = "-" if calendar is None else _money(calendar)
    return CostLine(
        item.item,
        "battery_wear",
        None if amount is None else round(amount, 2),
        f"max({efc} cycles / {life or '?'} × {cost} ; calendaire {cal})",
        f"max({efc} cycles / {life or '?'} × {cost}; calendar {cal})",
        f"cycles équivalents mesurés ce mois ; durée de vie en cycles : {source_fr} ;"
        " une batterie meurt d'usure ou d'âge, la première des deux",
        f"equivalent full cycles measured this month; lifetime cycles: {source_en};"
        " a battery dies of wear or of age, whichever comes first",
    )


def _log_in(log: Sequence[LogEntry], month: str, months: int) -> float:
    return sum(e.cost for e in log if 0 <= months_since(e.date, month) < months)


def costs(
    items: Sequence[Item],
    log: Sequence[LogEntry],
    month: str,
    *,
    battery_efc: dict[str, float | None] | None = None,
    fees_collected: float | None = None,
) -> Costs:
    """The month's cost model. `battery_efc` maps battery items to this month's cycles."""
    parse_month(month)
    battery_efc = battery_efc or {}
    lines = [
        battery_provision(i, month, battery_efc.get(i.item))
        if i.category is Category.BATTERY_BANK
        else amortisation(i, month)
        for i in items
    ]
    spent = _log_in(log, month, 1)
    reserve = _log_in(log, month, RESERVE_MONTHS) / RESERVE_MONTHS
    lines.append(
        CostLine(
            "*",
            "maintenance_spent",
            round(spent, 2),
            "somme du journal ce mois",
            "sum of this month's log",
            "pièces + main d'œuvre",
            "parts + labour",
        )
    )
    lines.append(
        CostLine(
            "*",
            "maintenance_reserve",
            round(reserve, 2),
            f"journal des {RESERVE_MONTHS} derniers mois / {RESERVE_MONTHS}",
            f"log of the last {RESERVE_MONTHS} months / {RESERVE_MONTHS}",
            "l'entretien passé annonce l'entretien à venir",
            "past upkeep predicts future upkeep",
        )
    )
    provisions = [ln.amount for ln in lines if ln.kind != "maintenance_spent" and ln.amount]
    # No registered item with a known cost: the data says nothing of what to set aside, and a
    # 0 would read as "nothing to set aside" (and divide the cost recovery by zero).
    known = any(ln.amount is not None for ln in lines if ln.item != "*")
    contribution = round(sum(provisions), 2) if known else None
    currencies = {i.currency for i in items} or {DEFAULT_CURRENCY}
    recovery = None
    if fees_collected is not None and contribution:
        recovery = round(100.0 * fees_collected / contribution, 1)
    return Costs(
        currency=currencies.pop() if len(currencies) == 1 else "mixed",
        lines=tuple(lines),
        maintenance_spent=round(spent, 2),
        contribution=contribution,
        fees_collected=fees_collected,
        cost_recovery_pct=recovery,
    )
