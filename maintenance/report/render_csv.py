"""The report as one CSV: section, item, figure, value, unit (one row per figure, `table.rows`).

Values are plain (dot decimals, empty for "no data") so a spreadsheet or a script reads them;
the people-facing formatting is the HTML's and the PDF's.
"""

from __future__ import annotations

import csv
import io

from maintenance.report.model import Report
from maintenance.report.table import rows

HEADER = ("section", "item", "figure", "value", "unit")


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerow(("report", "*", "site", report.site, ""))
    writer.writerow(("report", "*", "month", report.month, ""))
    for row in rows(report):
        value = row.value
        if isinstance(value, bool):
            value = int(value)
        writer.writerow(
            (row.section, row.item, row.figure, "" if value is None else value, row.unit)
        )
    return out.getvalue()
