"""The gettext catalogues of the CLI: `edged/locale/<lang>/LC_MESSAGES/edged.po`, compiled to `.mo`.

The `.po` files are the source (in git, edited by people); the `.mo` beside each is built from it
by Babel, never committed: at install (`scripts/install`, `scripts/_venv.sh` run
`python -m edged.cli.catalogue compile`) or, when it is missing or older than its `.po` (a fresh
clone, an edited translation), on first use: written beside the `.po` when the folder is
writable, else kept in memory for this process. So a clone works with no build step and a
read-only install still gets the translations.

    python -m edged.cli.catalogue compile   # every .po -> .mo
    python -m edged.cli.catalogue extract   # the source's messages merged into every .po

Messages are English in the source (msgid), French in `fr/edged.po`; English needs no catalogue.
"""

from __future__ import annotations

import gettext
import io
import os
import sys
import tempfile
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "edged"
KEYWORDS = {"tr": None, "N_": None, "ntr": (1, 2)}
"""What `extract` looks for: `tr("msg", lang)`, `N_("msg")` (a table entry translated later) and
`ntr("one", "many", n, lang)`."""
SOURCES = ("edged/cli",)
"""The folders whose messages are in the catalogue (relative to the repository)."""


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def languages() -> list[str]:
    return sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def _mo_bytes(po: Path) -> bytes:
    from babel.messages.mofile import write_mo  # only when compiling (install, first use)
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def compile_po(po: Path) -> bytes:
    """The `.mo` of `po`, also written beside it (atomically) when the folder allows it."""
    data = _mo_bytes(po)
    mo = po.with_suffix(".mo")
    try:
        fd, tmp = tempfile.mkstemp(dir=po.parent, prefix=".edged-", suffix=".mo")
    except OSError:
        return data  # read-only install: this process uses it from memory
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, mo)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
    return data


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of `lang`; the identity (English msgids) when there is none."""
    po = po_path(lang)
    if not po.exists():
        return gettext.NullTranslations()
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as f:
            return gettext.GNUTranslations(f)
    return gettext.GNUTranslations(io.BytesIO(compile_po(po)))


def extract(root: Path) -> None:
    """Merge the messages of SOURCES into every `.po`: new ones untranslated, gone ones dropped
    (the catalogue test then names what is left to translate)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po, write_po

    template = Catalog(project="edged")
    for folder in SOURCES:
        for name, line, message, comments, context in extract_from_dir(
            root / folder, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
        ):
            where = [(f"{folder}/{name}", line)]
            template.add(message, None, where, auto_comments=comments, context=context)
    for lang in languages():
        po = po_path(lang)
        with po.open("rb") as f:
            catalog = read_po(f, locale=lang)
        catalog.update(template, no_fuzzy_matching=True)
        with po.open("wb") as f:
            write_po(f, catalog, width=100, omit_header=False, ignore_obsolete=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["compile"]:
        for lang in languages():
            compile_po(po_path(lang))
            print(po_path(lang).with_suffix(".mo"))
        return 0
    if argv[:1] == ["extract"]:
        extract(LOCALE_DIR.parent.parent)
        return 0
    print("usage: python -m edged.cli.catalogue compile|extract", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
