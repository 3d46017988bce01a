"""The staff guide (docs/fr/guide.md) as a printable A4 PDF, with the report's PDF code (fpdf2).

The guide is written in the small part of Markdown it uses: a `#` title, `##` headings,
paragraphs, `-` lists, `|` tables, `**bold**`, `code` and links (their text is kept). A line
`<!-- inclure : voyants.md -->` puts that file's body in its place (without its title: the
guide's heading above names it), so the LED card is printed inside the guide yet kept in one
file, which its test checks against the code. Anything else is printed as text: a guide edited
by hand never stops the rendering.

Pure: text in, PDF bytes out; reading the files is the caller's (`edged guide`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from fpdf import FPDF

from maintenance.report.render_pdf import heading, latin1

INCLUDE = re.compile(r"<!--\s*inclure\s*:\s*([\w.-]+\.md)[^>]*-->")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


@dataclass
class Block:
    kind: str
    """title, heading, paragraph, bullets or table"""
    lines: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


def inline(text: str) -> str:
    """The words a reader sees: links by their text, no `**` or backticks."""
    return _LINK.sub(r"\1", text).replace("**", "").replace("`", "").strip()


def blocks(markdown: str, include: Callable[[str], str] = lambda name: "") -> list[Block]:
    """The guide's blocks, included files expanded (without their own `#` title: the guide's
    heading above the marker names them)."""
    markdown = INCLUDE.sub(lambda m: "\n" + _untitled(include(m.group(1))) + "\n", markdown)
    out: list[Block] = []
    for line in _COMMENT.sub("", markdown).splitlines():
        text = line.strip()
        last = out[-1] if out else None
        if not text:
            out.append(Block("break"))
        elif text.startswith("## "):
            out.append(Block("heading", [inline(text[3:])]))
        elif text.startswith("# "):
            out.append(Block("title", [inline(text[2:])]))
        elif text.startswith("|"):
            cells = [inline(c) for c in text.strip("|").split("|")]
            if all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue  # the header's underline
            if last is None or last.kind != "table":
                out.append(last := Block("table"))
            last.rows.append(cells)
        elif text.startswith("- "):
            if last is None or last.kind != "bullets":
                out.append(last := Block("bullets"))
            last.lines.append(inline(text[2:]))
        elif last is not None and last.kind == "bullets" and line.startswith("  "):
            last.lines[-1] += " " + inline(text)  # a list item's next line
        elif last is not None and last.kind == "paragraph":
            last.lines.append(inline(text))
        else:
            out.append(Block("paragraph", [inline(text)]))
    return [b for b in out if b.kind != "break"]


def _untitled(markdown: str) -> str:
    return re.sub(r"^# .*$", "", markdown, flags=re.M)


def render_guide(markdown: str, include: Callable[[str], str] = lambda name: "") -> bytes:
    """The PDF's bytes: A4, 9 pt text, tables with ruled cells, ready to print."""
    pdf = FPDF(format="A4")
    pdf.set_margins(14, 12, 14)
    pdf.set_auto_page_break(True, margin=12)
    pdf.set_creator("edged")
    pdf.add_page()
    for block in blocks(markdown, include):
        if block.kind == "title":
            pdf.set_title(latin1(block.lines[0]))
            pdf.set_font("Helvetica", "B", 14)
            pdf.multi_cell(0, 7, latin1(block.lines[0]), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif block.kind == "heading":
            pdf.ln(1.5)
            heading(pdf, block.lines[0])
        elif block.kind == "paragraph":
            _text(pdf, " ".join(block.lines))
        elif block.kind == "bullets":
            for item in block.lines:
                _text(pdf, "- " + item)
        else:
            _table(pdf, block.rows)
    return bytes(pdf.output())


def _text(pdf: FPDF, text: str) -> None:
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 4.3, latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _table(pdf: FPDF, rows: list[list[str]]) -> None:
    width = max(len(r) for r in rows)
    pdf.set_font("Helvetica", "", 8.5)
    with pdf.table(
        col_widths=(28, 36, 36)[:width] if width == 3 else None,
        text_align="LEFT",
        line_height=4,
        first_row_as_headings=True,
    ) as table:
        for cells in rows:
            row = table.row()
            for cell in (cells + [""] * width)[:width]:
                row.cell(latin1(cell))
    pdf.ln(1.5)
