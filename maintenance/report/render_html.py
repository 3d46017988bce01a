"""The report as one self-contained HTML page (no script, no external file), French by default.

Charts are inline SVG painted from `charts` shapes; tables come from `table.rows`, so the page
shows the same figures as the CSV and the PDF. External text (site name, alarm messages,
registry fields) is escaped.
"""

from __future__ import annotations

from html import escape

from maintenance.report.charts import Chart, H, Line, Rect, Text, W, charts
from maintenance.report.model import Report
from maintenance.report.table import SECTIONS, label, rows, shown

STYLE = """body{font-family:sans-serif;max-width:900px;margin:1em auto;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;border-bottom:1px solid #ccc;margin-top:1.4em}
table{border-collapse:collapse;width:100%;font-size:.9em}td,th{padding:2px 6px;
border-bottom:1px solid #eee;text-align:left}td.v{text-align:right}.nd{color:#c0392b}
.summary{background:#f4f7fb;padding:.6em 1em;border-left:4px solid #2f6db5}
.note{font-size:.85em;color:#555}svg{width:100%;height:auto}"""

TITLE = {"fr": "Rapport mensuel du matériel", "en": "Monthly equipment report"}
FORMULA = {"fr": "formule", "en": "formula"}
ASSUMPTIONS = {"fr": "hypothèses", "en": "assumptions"}


def svg(chart: Chart) -> str:
    """One chart as an inline SVG element."""
    out = [f'<svg viewBox="0 0 {W:g} {H:g}" role="img" aria-label="{escape(chart.title)}">']
    for s in chart.shapes:
        if isinstance(s, Rect):
            out.append(
                f'<rect x="{s.x:.1f}" y="{s.y:.1f}" width="{s.w:.1f}" height="{s.h:.1f}"'
                f' fill="{s.fill}"/>'
            )
        elif isinstance(s, Line):
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in s.points)
            dash = ' stroke-dasharray="4 3"' if s.dashed else ""
            out.append(
                f'<polyline points="{points}" fill="none" stroke="{s.stroke}"'
                f' stroke-width="{s.width:g}"{dash}/>'
            )
        elif isinstance(s, Text):
            out.append(
                f'<text x="{s.x:.1f}" y="{s.y:.1f}" font-size="{s.size:g}"'
                f' text-anchor="{s.anchor}" fill="{s.fill}">{escape(s.text)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def _value(value: object, lang: str) -> str:
    text = escape(shown(value, lang))
    return f'<td class="v nd">{text}</td>' if value is None else f'<td class="v">{text}</td>'


def _tables(report: Report, lang: str) -> list[str]:
    out, section = [], None
    formulas = {(ln.item, ln.kind): ln for ln in report.costs.lines}
    for row in rows(report):
        if row.section != section:
            if section is not None:
                out.append("</table>")
            section = row.section
            out.append(f"<h2>{escape(label(section, lang))}</h2><table>")
        item = "" if row.item == "*" else escape(row.item)
        name = (
            label(row.figure, lang)
            if not row.figure.startswith("dod_")
            else (f"{label('dod', lang)} {row.figure[4:].replace('_', '–')} %")
        )
        out.append(
            f"<tr><td>{item}</td><td>{escape(name)}</td>{_value(row.value, lang)}"
            f"<td>{escape(row.unit)}</td></tr>"
        )
        line = formulas.get((row.item, row.figure)) if row.section == "costs" else None
        if line is not None:
            f, a = (
                (line.formula_fr, line.assumptions_fr)
                if lang == "fr"
                else (line.formula_en, line.assumptions_en)
            )
            out.append(
                f'<tr><td></td><td colspan="3" class="note">{FORMULA[lang]} : {escape(f)}'
                f" — {ASSUMPTIONS[lang]} : {escape(a)}</td></tr>"
            )
    out.append("</table>")
    return out


def render_html(report: Report, lang: str = "fr") -> str:
    """The whole page in `lang` ("fr" or "en")."""
    summary = report.summary_fr if lang == "fr" else report.summary_en
    head = f"{TITLE[lang]} — {report.site} — {report.month}"
    parts = [
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{escape(head)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(head)}</h1>",
        f'<p class="summary">{escape(summary)}</p>',
    ]
    for chart in charts(report, lang):
        parts.append(f"<h2>{escape(chart.title)}</h2>{svg(chart)}")
    parts += _tables(report, lang)
    if report.jobs is None:
        parts.append(
            f'<p class="note">{escape(SECTIONS["jobs"][lang == "en"])} :'
            f" {escape(shown(None, lang))}</p>"
        )
    parts.append("</body></html>\n")
    return "\n".join(parts)
