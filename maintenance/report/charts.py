"""The report's charts as shapes (rectangles, polylines, text) in a W×H box, top-left origin.

Drawn by hand so the HTML stays self-contained (inline SVG) and the PDF draws the very same
shapes with fpdf2: one geometry, two painters (`render_html.svg`, `render_pdf`). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from maintenance.report.model import Report
from maintenance.report.month import bounds, days
from maintenance.report.summary import number

W, H = 600.0, 200.0
LABEL_CHARS = 22  # an availability bar's label (9 pt) within the 124 units left of the bars
LEFT, RIGHT, TOP, BOTTOM = 46.0, 10.0, 18.0, 22.0
PV, LOAD, SOC, AVAIL, AXIS, LOW = "#e89a00", "#2f6db5", "#2a8a4a", "#2f6db5", "#555555", "#c0392b"


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str


@dataclass(frozen=True, slots=True)
class Line:
    points: tuple[tuple[float, float], ...]
    stroke: str
    width: float = 1.0
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Text:
    x: float
    y: float
    text: str
    size: float = 9.0
    anchor: str = "start"  # start, middle, end
    fill: str = "#222222"


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    shapes: tuple[Rect | Line | Text, ...]


def _frame(y_max_label: str) -> list:
    bottom = H - BOTTOM
    return [
        Line(((LEFT, TOP), (LEFT, bottom), (W - RIGHT, bottom)), AXIS),
        Text(LEFT - 4, TOP + 4, y_max_label, 8, "end"),
        Text(LEFT - 4, bottom, "0", 8, "end"),
    ]


def energy_chart(report: Report, lang: str) -> Chart:
    """Two bars a day: solar production and consumption (kWh); a day without data is empty."""
    by_day = {d.date: d for d in report.energy.days}
    all_days = days(report.month)
    top = max([v for d in report.energy.days for v in (d.pv_kwh, d.load_kwh) if v] or [1.0])
    slot = (W - LEFT - RIGHT) / len(all_days)
    scale = (H - TOP - BOTTOM) / top
    shapes = _frame(f"{number(top, lang)} kWh")
    for i, day in enumerate(all_days):
        x = LEFT + i * slot
        d = by_day.get(day.isoformat())
        for j, (value, colour) in enumerate(((d and d.pv_kwh, PV), (d and d.load_kwh, LOAD))):
            if value:
                h = value * scale
                shapes.append(
                    Rect(x + 1 + j * (slot - 2) / 2, H - BOTTOM - h, (slot - 2) / 2, h, colour)
                )
        if day.day == 1 or day.day % 5 == 0:
            shapes.append(Text(x + slot / 2, H - BOTTOM + 12, str(day.day), 8, "middle"))
    fr = lang == "fr"
    shapes += [
        Rect(W - 200, 2, 8, 8, PV),
        Text(W - 188, 10, "production solaire" if fr else "solar production", 8),
        Rect(W - 90, 2, 8, 8, LOAD),
        Text(W - 78, 10, "consommation" if fr else "consumption", 8),
    ]
    title = "Énergie par jour (kWh)" if fr else "Energy per day (kWh)"
    return Chart("energy", title, tuple(shapes))


def soc_chart(report: Report, lang: str) -> Chart:
    """Hourly mean state of charge over the month; the line breaks where hours are missing."""
    start, end = bounds(report.month)
    shapes = _frame("100 %")
    y = lambda soc: TOP + (100.0 - soc) * (H - TOP - BOTTOM) / 100.0  # noqa: E731
    x = lambda ts: LEFT + (ts - start) * (W - LEFT - RIGHT) / (end - start)  # noqa: E731
    shapes.append(Line(((LEFT, y(20.0)), (W - RIGHT, y(20.0))), LOW, 0.8, dashed=True))
    shapes.append(Text(W - RIGHT, y(20.0) - 3, "20 %", 8, "end", LOW))
    for b in report.batteries[:1]:
        run: list[tuple[float, float]] = []
        last = None
        for ts, soc in b.soc_hourly:
            if last is not None and ts - last > 3600:  # missing hours: end this stretch
                if len(run) > 1:
                    shapes.append(Line(tuple(run), SOC, 1.2))
                run = []
            run.append((x(ts + 1800), y(soc)))
            last = ts
        if len(run) > 1:
            shapes.append(Line(tuple(run), SOC, 1.2))
    for day in days(report.month):
        if day.day == 1 or day.day % 5 == 0:
            ts = start + (day.toordinal() - days(report.month)[0].toordinal()) * 86400
            shapes.append(Text(x(ts + 43200), H - BOTTOM + 12, str(day.day), 8, "middle"))
    title = (
        "Charge de la batterie (%, moyenne horaire)"
        if lang == "fr"
        else "Battery state of charge (%, hourly mean)"
    )
    return Chart("soc", title, tuple(shapes))


def availability_chart(report: Report, lang: str) -> Chart:
    """One horizontal bar per item: availability in %; "no data" written where it is None."""
    items = report.availability
    row = (H - TOP - 6) / max(1, len(items))
    left, width = 130.0, W - 130.0 - 60.0
    shapes: list = [Line(((left, TOP), (left, H - 6)), AXIS)]
    for i, a in enumerate(items):
        yy = TOP + i * row
        # Item names are free text: a long one is cut so it stays left of the bars, on the page.
        name = a.item if len(a.item) <= LABEL_CHARS else a.item[: LABEL_CHARS - 1] + "…"
        shapes.append(Text(left - 6, yy + row * 0.6, name, 9, "end"))
        if a.availability_pct is None:
            shapes.append(
                Text(
                    left + 6,
                    yy + row * 0.6,
                    "pas de données" if lang == "fr" else "no data",
                    9,
                    "start",
                    LOW,
                )
            )
            continue
        shapes.append(
            Rect(left, yy + row * 0.15, width * a.availability_pct / 100.0, row * 0.7, AVAIL)
        )
        shapes.append(
            Text(left + width + 6, yy + row * 0.6, f"{number(a.availability_pct, lang)} %", 9)
        )
    title = "Disponibilité du matériel (%)" if lang == "fr" else "Equipment availability (%)"
    return Chart("availability", title, tuple(shapes))


def charts(report: Report, lang: str) -> list[Chart]:
    return [energy_chart(report, lang), soc_chart(report, lang), availability_chart(report, lang)]
