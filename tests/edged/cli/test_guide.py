"""`edged guide --pdf`: the staff guide printed by the report's PDF code, read back with
pdftotext (poppler-utils); and what a bad guide file or output path gives."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edged.cli.i18n import tr
from edged.cli.verdict import HEADLINES
from maintenance.report.render_guide import blocks
from maintenance.report.render_pdf import latin1

ROOT = Path(__file__).resolve().parents[3]
GUIDE = ROOT / "docs" / "fr" / "guide.md"
needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils not installed"
)


def edged_guide(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edged.cli", "guide", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "LANG": "en_GB.UTF-8"},  # a Pi's locale: French still
    )


def pdf_text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split())


def pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))


@needs_poppler
def test_the_guide_is_one_printed_page_with_every_verdict_the_code_gives(tmp_path):
    pdf = tmp_path / "guide.pdf"
    out = edged_guide("--pdf", str(pdf))
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"Guide écrit : {pdf} (A4, à imprimer)\n"
    assert pages(pdf) == 1
    text = pdf_text(pdf)
    for headline in HEADLINES.values():  # the first line `edged status` can print, each one
        assert tr(headline, "fr") in text, headline
    # the LED card is printed inside the guide, and its placeholder is gone
    assert "rouge clignotant + bip" in text and "appui long (2 secondes" in text
    assert "COMPLÉTER" not in text and "<!--" not in text and "**" not in text
    # every paragraph and list item of the guide, as written
    for block in blocks(GUIDE.read_text(), lambda name: (GUIDE.parent / name).read_text()):
        if block.kind in ("paragraph", "bullets"):
            for line in [" ".join(block.lines)] if block.kind == "paragraph" else block.lines:
                assert " ".join(latin1(line).split()) in text, line


def test_a_guide_that_cannot_be_read_is_said_in_french_and_exits_2(tmp_path):
    missing = edged_guide("--pdf", str(tmp_path / "g.pdf"), "--source", str(tmp_path / "no.md"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith(f"edged : impossible de lire le guide {tmp_path / 'no.md'}")
    assert missing.stderr.rstrip().endswith(": fichier ou dossier introuvable")
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"# Guide\n\xff\xfe\x00 pas du texte\n")
    bad = edged_guide("--pdf", str(tmp_path / "g.pdf"), "--source", str(binary))
    assert bad.returncode == 2 and bad.stderr.rstrip().endswith(": pas du texte UTF-8")
    assert not (tmp_path / "g.pdf").exists()


def test_a_pdf_that_cannot_be_written_exits_2(tmp_path):
    out = edged_guide("--pdf", str(tmp_path / "no-such-folder" / "g.pdf"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("edged : impossible d'écrire ")
    assert out.stderr.rstrip().endswith(": fichier ou dossier introuvable")


def test_markdown_it_does_not_know_is_printed_as_text():
    parsed = blocks(
        "# Titre\n\n> une citation\n\n| a | b |\n|---|---|\n| c |\n\n- un\n  suite\n"
        "<!-- inclure : carte.md -->\n<!-- caché -->\n[lien](x.md) `code` **gras**\n",
        lambda name: f"# {name}\nincluse\n",
    )
    assert [(b.kind, b.lines, b.rows) for b in parsed] == [
        ("title", ["Titre"], []),
        ("paragraph", ["> une citation"], []),
        ("table", [], [["a", "b"], ["c"]]),
        ("bullets", ["un suite"], []),
        ("paragraph", ["incluse"], []),
        ("paragraph", ["lien code gras"], []),
    ]
