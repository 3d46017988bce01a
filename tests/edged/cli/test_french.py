"""The CLI in French: the catalogue is complete, and commands say no English word to staff."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from edged.cli import catalogue, i18n
from edged.config.loader import ConfigError, parse

ROOT = Path(__file__).resolve().parents[3]
CLI = ROOT / "edged" / "cli"
FIELD = re.compile(r"\{[^}]*\}")


def french() -> dict[str, object]:
    with catalogue.po_path("fr").open("rb") as f:
        cat = read_po(f, locale="fr")
    return {m.id if isinstance(m.id, str) else m.id[0]: m for m in cat if m.id}


def source_messages() -> set[str]:
    """Every msgid the CLI's code names: `tr`/`N_`/`ntr` first arguments, f-strings included
    (Babel's extractor does not look inside them; this walk does)."""
    found = set()
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            first = node.args[0]
            if name in ("tr", "N_", "ntr") and isinstance(first, ast.Constant):
                found.add(first.value)
    return found


def test_the_french_catalogue_is_complete_and_keeps_every_field():
    fr = french()
    missing = sorted(source_messages() - set(fr))
    assert not missing, f"not in edged.po (run: python -m edged.cli.catalogue extract): {missing}"
    for msgid, message in fr.items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated: {msgid!r}"
        assert not message.fuzzy, f"fuzzy: {msgid!r}"
        for text in strings:
            assert set(FIELD.findall(text)) == set(FIELD.findall(msgid)), msgid


def test_a_missing_mo_is_built_from_the_po(tmp_path, monkeypatch):
    """A fresh clone has no .mo: the first use compiles it (here into a copy of the tree)."""
    po = tmp_path / "fr" / "LC_MESSAGES" / "edged.po"
    po.parent.mkdir(parents=True)
    po.write_bytes(catalogue.po_path("fr").read_bytes())
    monkeypatch.setattr(catalogue, "LOCALE_DIR", tmp_path)
    catalogue.translations.cache_clear()
    try:
        assert catalogue.translations("fr").gettext("ALL IS WELL") == "TOUT VA BIEN"
        assert po.with_suffix(".mo").exists()
    finally:
        catalogue.translations.cache_clear()


def test_language_choice(monkeypatch):
    """French whatever the locale says (Raspberry Pi OS ships LANG=en_GB.UTF-8); English only
    when asked: --lang, $EDGED_LANG or `[site] language`, in that order."""
    for var in ("EDGED_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    assert i18n.language(None) == "fr"
    for var in ("LANG", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.setenv(var, "en_GB.UTF-8")
    assert i18n.language(None) == "fr"
    english = parse({"site": {"id": "kati", "language": "en"}})
    assert i18n.language(None, english) == "en"
    assert i18n.language("fr", english) == "fr"
    monkeypatch.setenv("EDGED_LANG", "fr")
    assert i18n.language(None, english) == "fr"
    monkeypatch.setenv("EDGED_LANG", "en")
    assert i18n.language(None) == "en" and i18n.language("fr") == "fr"
    monkeypatch.setenv("EDGED_LANG", "de")  # not a language of ours: the next choice decides
    assert i18n.language(None) == "fr" and i18n.language(None, english) == "en"


def test_a_site_language_other_than_fr_or_en_is_refused():
    with pytest.raises(ConfigError) as exc:
        parse({"site": {"id": "kati", "language": "bm"}})
    assert "site.language: expected one of fr, en" in str(exc.value)


def test_a_pi_with_an_english_locale_speaks_french_unless_edged_lang_says_en(site):
    """The real command, with Raspberry Pi OS's environment."""
    pi = {"LANG": "en_GB.UTF-8", "LC_ALL": "en_GB.UTF-8"}
    assert run("check-config", "--config", str(site), env=pi).startswith(f"{site} : OK")
    english = run("check-config", "--config", str(site), env={**pi, "EDGED_LANG": "en"})
    assert english.startswith(f"{site}: OK (1 device)")
    site.write_text(site.read_text().replace("[site]\n", '[site]\nlanguage = "en"\n', 1))
    assert run("check-config", "--config", str(site), env=pi).startswith(f"{site}: OK")
    assert run("check-config", "--config", str(site), env={"EDGED_LANG": "fr"}).startswith(
        f"{site} : OK"
    )


def test_babel_formats_for_mali():
    assert i18n.number(31.5, "fr") == "31,5" and i18n.number(31.5, "en") == "31.5"
    assert i18n.duration(600 * 60, "fr") == "10 h"
    assert (i18n.duration(86400 * 1.6, "fr"), i18n.duration(86400 * 2, "fr")) == (
        "2 jours",
        "2 jours",
    )
    assert i18n.when(1796392440, "fr") == "4 déc. à 13 h 54"
    assert i18n.ntr("{n} device", "{n} devices", 1, "fr") == "1 appareil"
    assert i18n.ntr("{n} device", "{n} devices", 2, "fr") == "2 appareils"


def english_only_words() -> set[str]:
    """Words of the English msgids that no French message uses: any of them in a French
    command's output is an untranslated message."""
    english, french_words = set(), set()
    for msgid, message in french().items():
        english |= {w.lower() for w in re.findall(r"[A-Za-z]{4,}", FIELD.sub("", msgid))}
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            french_words |= {w.lower() for w in re.findall(r"[A-Za-zÀ-ÿ]{4,}", text)}
    commands = {"edged", "status", "details", "alarms", "pibox", "antim", "equipment", "jobs"}
    commands |= {"battery", "report", "guide", "scan", "schedule", "backup", "maintenance"}
    return english - french_words - commands


def words_shown(text: str) -> set[str]:
    """The words of `text` a person reads: not a usage line, file paths, `--flags`,
    `[[tables]]` or config key paths (`storage.commit_interval`, `devices[0].port`: what to
    look for in the file)."""
    text = re.sub(r"^usage: .*(?:\n[ \t]+.*)*", " ", text, flags=re.M)  # the syntax, as typed
    text = re.sub(r"\S*/\S*|--[\w-]+|\[\[\w+\]\]|\w+(?:\[\d+\])?(?:\.\w+(?:\[\d+\])?)+", " ", text)
    return {w.lower() for w in re.findall(r"[A-Za-zÀ-ÿ]{4,}", text)}


def run(*args: str, env_lang: str = "fr", env: dict[str, str] | None = None) -> str:
    """The command's output; `env` replaces the default `EDGED_LANG=env_lang`."""
    out = subprocess.run(
        [sys.executable, "-m", "edged.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env if env is not None else {"EDGED_LANG": env_lang})},
    )
    assert "Traceback" not in out.stderr, out.stderr
    return out.stdout + out.stderr


@pytest.fixture
def site(tmp_path) -> Path:
    config = tmp_path / "edged.toml"
    config.write_text(
        f'[site]\nid = "kati"\nname = "CSCOM de Kati"\ncontact = "Awa, 76 00"\n'
        f'[storage]\npath = "{tmp_path / "edged.db"}"\nlive_path = "{tmp_path / "live.json"}"\n'
        '[[devices]]\nid = "mppt"\nname = "Régulateur solaire"\ndriver = "vedirect"\n'
        'port = "/dev/null"\n'
        "[power]\ncapacity_wh = 2400\n"
        '[[equipment]]\nitem = "batterie"\ncategory = "battery_bank"\nchemistry = "lifepo4"\n'
        "capacity_ah = 200\npurchase_cost = 900000\nexpected_life_years = 8\n"
        '[[jobs]]\nname = "sauvegarde"\nkind = "backup"\ncommand = ["/bin/true"]\n'
        "max_duration = 120\npower_w = 5\n"
    )
    return config


COMMANDS = [
    ("status",),
    ("status", "--details"),
    ("alarms",),
    ("alarms", "ack", "12"),
    ("schedule",),
    ("backup",),
    ("backup", "--now", "--job", "inconnue"),
    ("maintenance", "list"),
    ("maintenance", "list", "--month", "octobre"),
    ("maintenance", "log", "--item", "onduleur", "--action", "x"),
    ("check-config",),
    ("battery",),
    ("battery", "--id", "inconnue"),
    ("report", "--month", "octobre"),
    ("report", "--month", "2026-10", "--format", "docx"),
    ("report", "--fleet", "/nonexistent/kati.json", "--out", "/tmp"),
]
WITHOUT_CONFIG = [
    ("scan", "--by-id-dir", "/nonexistent"),
    ("scan", "--tcp", "gx:99999"),
    ("scan", "--rtu", "/nonexistent/ttyUSB9"),
    ("guide", "--pdf", "/nonexistent/guide.pdf"),
    ("guide", "--pdf", "/nonexistent/guide.pdf", "--source", "/nonexistent/guide.md"),
    ("guide",),  # argparse's own errors, said again from the catalogue
    ("status", "--lang", "de"),
    ("battery", "--days", "beaucoup"),
    ("status", "--inconnu"),
]
BAD_CONFIG = """\
[site]
id = "Kati Coro"
colour = "vert"
[storage]
commit_interval = 0
[mqtt]
port = "1883"
tls = "yes"
[[devices]]
id = "mppt"
driver = "vedirect"
[leds]
backend = "i2c"
"""


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_in_french_says_no_english_word(site, command):
    text = run(*command, "--config", str(site))
    leaked = words_shown(text) & english_only_words()
    assert not leaked, f"English in French output {leaked}:\n{text}"
    # and the same command in English is not the French text
    assert run(*command, "--config", str(site), env_lang="en") != text or not text.strip()


@pytest.mark.parametrize("command", WITHOUT_CONFIG, ids=" ".join)
def test_commands_without_a_config_say_no_english_word(command):
    text = run(*command)
    assert text.strip()
    leaked = words_shown(text) & english_only_words()
    assert not leaked, f"English in French output {leaked}:\n{text}"
    assert run(*command, env_lang="en") != text


def test_check_config_says_the_common_problems_in_french(tmp_path):
    """A config with the usual mistakes: each line names the file and the key, in French."""
    bad = tmp_path / "edged.toml"
    bad.write_text(BAD_CONFIG)
    text = run("check-config", "--config", str(bad))
    lines = text.splitlines()
    assert len(lines) == 7 and all(line.startswith(f"{bad} : ") for line in lines), text
    assert (
        f"{bad} : site.colour : clé inconnue ; clés possibles : id, name, contact, language"
        in lines
    )
    assert f"{bad} : mqtt.tls : attendu : une table ; trouvé : un texte" in lines
    assert f"{bad} : devices[0].port : clé obligatoire absente" in lines
    assert f"{bad} : mqtt.port : attendu : un nombre entier ; trouvé : un texte '1883'" in lines
    assert f"{bad} : leds.backend : valeur attendue parmi gpio, sysfs ; trouvé 'i2c'" in lines
    leaked = words_shown(text) & english_only_words()
    assert not leaked, f"English in French output {leaked}:\n{text}"
    english = run("check-config", "--config", str(bad), env_lang="en")
    assert f"{bad}: devices[0].port: required key is missing" in english.splitlines()
    missing = run("check-config", "--config", str(tmp_path / "none.toml"))
    assert missing.strip() == f"{tmp_path / 'none.toml'} : (fichier) : fichier introuvable"


def test_a_fleet_file_that_is_no_report_and_a_support_bundle_in_french(site, tmp_path):
    junk = tmp_path / "kati.json"
    junk.write_text("pas du JSON")
    text = run("report", "--fleet", str(junk), "--out", str(tmp_path), "--config", str(site))
    assert f"{junk} : ce n'est pas un rapport mensuel de site d'edged" in text
    bundle = run("support-bundle", "--out", str(tmp_path), "--config", str(site))
    assert bundle.startswith(f"Archive pour le support : {tmp_path}/edged-support-kati-"), bundle
    for output in (text, bundle):
        leaked = words_shown(output) & english_only_words()
        assert not leaked, f"English in French output {leaked}:\n{output}"


def test_argument_errors_in_french_exit_2():
    out = subprocess.run(
        [sys.executable, "-m", "edged.cli", "guide"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 2
    assert out.stderr.splitlines()[-1] == "edged guide : erreur : argument manquant : --pdf"


def test_piping_into_head_gives_no_traceback(site):
    """The reader closes the pipe after one line; the command ends quietly."""
    shell = subprocess.run(
        f"{sys.executable} -m edged.cli status --details --config {site} | head -1",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in shell.stderr and "BrokenPipe" not in shell.stderr, shell.stderr
