"""`edged guide --pdf FILE`: the French staff guide (docs/fr/guide.md) as a PDF to print.

The guide and the LED card it includes are read from the checkout's docs/fr (`--source` for
another copy); the PDF is drawn by the monthly report's code (fpdf2, loaded only here: the
daemon never pays for it). Not kept in git: built when wanted, so it never lags the guide.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edged.cli import i18n
from edged.cli.i18n import tr

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "fr" / "guide.md"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("guide", help="the staff guide as a PDF to print")
    parser.add_argument("--pdf", required=True, help="file to write (A4)")
    parser.add_argument("--source", default=str(GUIDE), help="the guide in Markdown")
    parser.add_argument("--lang", choices=i18n.LANGS, help="fr (default) or en; or $EDGED_LANG")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """0 written; 2 the guide cannot be read (a wheel install has no docs: use a checkout) or
    the PDF cannot be written."""
    from maintenance.report.render_guide import render_guide  # fpdf2: this command only

    lang = i18n.language(args.lang)
    source = Path(args.source)
    try:
        markdown = source.read_text(encoding="utf-8")
        data = render_guide(markdown, lambda name: (source.parent / name).read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        print(
            tr(
                "edged: cannot read the guide {path}: {error}",
                lang,
                path=str(source),
                error=i18n.os_reason(exc, lang),
            ),
            file=sys.stderr,
        )
        return 2
    try:
        Path(args.pdf).write_bytes(data)
    except OSError as exc:
        print(
            tr(
                "edged: cannot write {path}: {error}",
                lang,
                path=args.pdf,
                error=i18n.os_reason(exc, lang),
            ),
            file=sys.stderr,
        )
        return 2
    print(tr("Guide written: {path} (A4, to print)", lang, path=args.pdf))
    return 0
