"""The report as a PDF (fpdf2, A4): the same summary, charts and tables as the HTML page.

fpdf2's core fonts (Helvetica) are latin-1: French accents are in it, but not œ, €, ’, the
dashes or the thin spaces numbers use; `latin1` maps those to close latin-1 text and anything
else to "?", so an unusual site name or alarm message never stops the report.
"""

from __future__ import annotations

from dataclasses import asdict

from fpdf import FPDF

from maintenance.report.charts import Chart, H, Line, Rect, Text, W, charts
from maintenance.report.fleet import DIGITS, SiteLine, mixed_months_warning
from maintenance.report.fleet import heading as fleet_heading
from maintenance.report.model import Report
from maintenance.report.render_html import ASSUMPTIONS, FORMULA, TITLE
from maintenance.report.table import label, rows, shown

_SUBSTITUTES = str.maketrans(
    {
        "œ": "oe",
        "Œ": "OE",
        "€": "EUR",
        "’": "'",
        "‘": "'",
        "“": '"',
        "”": '"',
        "–": "-",
        "—": "-",
        "…": "...",
        "\u202f": " ",
        "\u2009": " ",
        "\u00a0": " ",
        "×": "x",
        "≤": "<=",
        "≥": ">=",
        "·": ".",
    }
)
CHART_MM = 180.0  # width of a chart on the page
SCALE = CHART_MM / W
ITEM_MM, NAME_MM, VALUE_MM = 40.0, 80.0, 40.0  # table columns (the unit takes the rest)


def latin1(text: str) -> str:
    """`text` in latin-1 (what the core fonts can draw): known look-alikes, else "?"."""
    return text.translate(_SUBSTITUTES).encode("latin-1", "replace").decode("latin-1")


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _chart(pdf: FPDF, chart: Chart) -> None:
    if pdf.get_y() + H * SCALE + 12 > pdf.h - pdf.b_margin:
        pdf.add_page()
    heading(pdf, chart.title)
    x0, y0 = pdf.l_margin, pdf.get_y()
    for s in chart.shapes:
        if isinstance(s, Rect):
            pdf.set_fill_color(*_rgb(s.fill))
            pdf.rect(x0 + s.x * SCALE, y0 + s.y * SCALE, s.w * SCALE, s.h * SCALE, style="F")
        elif isinstance(s, Line):
            pdf.set_draw_color(*_rgb(s.stroke))
            pdf.set_line_width(s.width * SCALE)
            pdf.set_dash_pattern(dash=1.2, gap=0.9) if s.dashed else pdf.set_dash_pattern()
            pdf.polyline([(x0 + x * SCALE, y0 + y * SCALE) for x, y in s.points])
            pdf.set_dash_pattern()
        elif isinstance(s, Text):
            pdf.set_font("Helvetica", "", s.size * 0.9)
            pdf.set_text_color(*_rgb(s.fill))
            text = latin1(s.text)
            width = pdf.get_string_width(text)
            shift = {"start": 0.0, "middle": width / 2, "end": width}[s.anchor]
            pdf.text(x0 + s.x * SCALE - shift, y0 + s.y * SCALE, text)
    pdf.set_text_color(0, 0, 0)
    pdf.set_y(y0 + H * SCALE + 3)


def heading(pdf: FPDF, text: str) -> None:
    pdf.set_font("Helvetica", "B", 11)
    pdf.set_text_color(30, 60, 110)
    pdf.cell(0, 7, latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def _fit(pdf: FPDF, text: str, width_mm: float) -> str:
    """`text` (latin-1) cut to what the current font draws within a cell `width_mm` wide, so
    that a long item name or label never runs over the next column."""
    text = latin1(text)
    room = width_mm - 2 * pdf.c_margin
    while text and pdf.get_string_width(text) > room:
        text = text[:-1]
    return text


def _tables(pdf: FPDF, report: Report, lang: str) -> None:
    formulas = {(ln.item, ln.kind): ln for ln in report.costs.lines}
    section = None
    for row in rows(report):
        if row.section != section:
            section = row.section
            pdf.ln(2)
            heading(pdf, label(section, lang))
        name = (
            label(row.figure, lang)
            if not row.figure.startswith("dod_")
            else (f"{label('dod', lang)} {row.figure[4:].replace('_', '-')} %")
        )
        pdf.set_font("Helvetica", "", 8.5)
        pdf.set_text_color(*((192, 57, 43) if row.value is None else (0, 0, 0)))
        pdf.cell(ITEM_MM, 4.6, _fit(pdf, "" if row.item == "*" else row.item, ITEM_MM))
        pdf.cell(NAME_MM, 4.6, _fit(pdf, name, NAME_MM))
        value = latin1(shown(row.value, lang))
        if pdf.get_string_width(value) <= VALUE_MM - 2 * pdf.c_margin:
            pdf.cell(VALUE_MM, 4.6, value, align="R")
            pdf.cell(0, 4.6, latin1(" " + row.unit), new_x="LMARGIN", new_y="NEXT")
        else:
            # A long value (the month's days with gaps) would run off the page over the next
            # rows: it goes under its label, wrapped across the page.
            pdf.cell(0, 4.6, latin1(" " + row.unit), new_x="LMARGIN", new_y="NEXT")
            pdf.set_x(pdf.l_margin + ITEM_MM)
            pdf.multi_cell(0, 4.2, value, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        line = formulas.get((row.item, row.figure)) if row.section == "costs" else None
        if line is not None:
            f, a = (
                (line.formula_fr, line.assumptions_fr)
                if lang == "fr"
                else (line.formula_en, line.assumptions_en)
            )
            pdf.set_font("Helvetica", "I", 7.5)
            pdf.set_x(pdf.l_margin + ITEM_MM)
            pdf.multi_cell(
                0,
                3.8,
                latin1(f"{FORMULA[lang]} : {f} - {ASSUMPTIONS[lang]} : {a}"),
                new_x="LMARGIN",
                new_y="NEXT",
            )


def render_pdf(report: Report, lang: str = "fr") -> bytes:
    """The PDF document's bytes."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=14)
    pdf.set_title(latin1(f"{TITLE[lang]} {report.site} {report.month}"))
    pdf.set_creator("edged")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(
        0,
        9,
        latin1(f"{TITLE[lang]} - {report.site} - {report.month}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", "", 9.5)
    pdf.set_fill_color(244, 247, 251)
    summary = report.summary_fr if lang == "fr" else report.summary_en
    pdf.multi_cell(0, 4.8, latin1(summary), fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for chart in charts(report, lang):
        _chart(pdf, chart)
    _tables(pdf, report, lang)
    return bytes(pdf.output())


def fleet_pdf(lines: list[SiteLine], lang: str = "fr") -> bytes:
    """The national comparison as a PDF (A4 landscape): one row per site report, the same
    columns and rounding as `fleet_html` and `fleet_csv`, and the mixed-months warning."""
    title, head = fleet_heading(lang)
    pdf = FPDF(orientation="L", format="A4")
    pdf.set_auto_page_break(True, margin=14)
    pdf.set_title(latin1(title))
    pdf.set_creator("edged")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 9, latin1(title), new_x="LMARGIN", new_y="NEXT")
    if warning := mixed_months_warning(lines, lang):
        pdf.set_font("Helvetica", "", 9)
        pdf.set_text_color(192, 57, 43)
        pdf.multi_cell(0, 4.8, latin1(warning), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
    width = (pdf.w - pdf.l_margin - pdf.r_margin) / len(head)
    pdf.set_font("Helvetica", "B", 7)
    for name in head:
        pdf.cell(width, 6, _fit(pdf, name, width), border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 7)
    for line in lines:
        for key, value in asdict(line).items():
            text = value if isinstance(value, str) else shown(value, lang, DIGITS.get(key, 2))
            pdf.cell(width, 5, _fit(pdf, text, width), border=1)
        pdf.ln()
    return bytes(pdf.output())
