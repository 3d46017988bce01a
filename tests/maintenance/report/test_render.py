"""Renderers and the command: JSON, CSV, HTML and PDF carry the same figures; the PDF's first
page is really drawn (pdftoppm); fleet combines sites; `python -m edged.cli.report` works."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from maintenance.report import stored_month
from maintenance.report.figures import build_report
from maintenance.report.fleet import combine, fleet_csv, fleet_html, fleet_json
from maintenance.report.month import bounds
from maintenance.report.mqtt_summary import report_topic, summary_payload
from maintenance.report.registry import validate_equipment
from maintenance.report.render_csv import render_csv
from maintenance.report.render_html import render_html
from maintenance.report.render_json import render_json
from maintenance.report.render_pdf import latin1, render_pdf
from telemetry.store import open_db
from tests.peers.site_month import EQUIPMENT, MONTH, write_month

START, END = bounds(MONTH)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("render") / "edged.db"
    write_month(path)
    return path


@pytest.fixture(scope="module")
def report(db_path):
    db = open_db(db_path, readonly=True)
    items, _ = validate_equipment(EQUIPMENT)
    return build_report(
        site="Kati",
        month=MONTH,
        records=stored_month.records(db, START, END, 60.0),
        items=items,
        alarms=stored_month.alarms(db, START, END),
        health=stored_month.health(db, START, END),
        health_interval_s=300,
    )


def test_csv_and_json_carry_the_same_numbers(report):
    data = json.loads(render_json(report))
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    by = {(r["section"], r["item"], r["figure"]): r["value"] for r in rows}
    assert float(by[("energy", "*", "pv_kwh")]) == data["energy"]["pv_kwh"]
    assert float(by[("battery", "battery", "equivalent_full_cycles")]) == pytest.approx(
        data["batteries"][0]["equivalent_full_cycles"], rel=1e-12
    )
    assert float(by[("costs", "*", "contribution")]) == data["costs"]["contribution"]
    assert by[("quality", "*", "days_without_data")] == "2026-10-10 2026-10-11"
    assert by[("jobs", "*", "runs")] == "" and data["jobs"] is None  # no data, not zero
    assert (
        data["schema"] == "edged.report/1" and data["availability"][0]["category"] == "solar_panels"
    )
    assert render_json(report) == render_json(report)  # stable


def test_html_has_the_three_svg_charts_in_french_and_english(report):
    fr, en = render_html(report, "fr"), render_html(report, "en")
    assert fr.count("<svg") == 3 and "<rect" in fr and "<polyline" in fr
    assert "Énergie par jour" in fr and "Disponibilité du matériel" in fr and 'lang="fr"' in fr
    assert "pas de données" in fr and "formule" in fr and "hypothèses" in fr
    assert "Energy per day" in en and "no data" in en and "Énergie" not in en
    assert "<script" not in fr and "http" not in fr.replace("http://www.w3.org", "")


def _dark_pixels(png: Path) -> int:
    image = Image.open(png).convert("L")
    return sum(image.histogram()[:200])  # grey levels 0-199: ink, not paper


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_pdf_first_page_is_drawn(report, tmp_path):
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render_pdf(report))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")],
        check=True,
    )
    (png,) = tmp_path.glob("p*.png")
    dark = _dark_pixels(png)
    width, height = Image.open(png).size
    assert dark > 0.02 * width * height  # title, summary, bars and lines, not a blank page
    blank = tmp_path / "blank.pdf"
    from fpdf import FPDF

    empty = FPDF()
    empty.add_page()
    blank.write_bytes(bytes(empty.output()))
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(blank), str(tmp_path / "b")], check=True)
    assert _dark_pixels(next(tmp_path.glob("b*.png"))) == 0  # the counter can see a blank page


def _words(pdf: Path) -> list[tuple[int, float, float, float, float, str]]:
    """Every word pdftotext finds: (page, xMin, yMin, xMax, yMax, text), in points."""
    html = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    out, page = [], 0
    for line in html.splitlines():
        if "<page " in line:
            page += 1
        elif "<word " in line:
            box = [float(line.split(f'{k}="')[1].split('"')[0]) for k in XY]
            out.append((page, *box, line.split(">")[1].split("<")[0]))
    return out


XY = ("xMin", "yMin", "xMax", "yMax")


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_pdf_wraps_a_long_list_of_days_instead_of_writing_over_the_next_rows(report, tmp_path):
    """A month of days with gaps was drawn in a 40 mm cell: it ran off the page and over the
    next row. Every word now stays on the A4 page and no two words overlap."""
    every_day = tuple(f"2026-10-{d:02d}" for d in range(1, 32))
    quality = dataclasses.replace(report.quality, days_with_gaps=every_day)
    long_name = dataclasses.replace(
        report,
        quality=quality,
        availability=tuple(dataclasses.replace(a, item=a.item * 12) for a in report.availability),
    )
    pdf = tmp_path / "gaps.pdf"
    pdf.write_bytes(render_pdf(long_name))
    words = _words(pdf)
    dates = [w for w in words if w[5].startswith("2026-10-")]
    assert len(dates) >= 31  # all drawn, none lost
    outside = [w for w in words if w[1] < 0 or w[3] > 595.3 - 20]
    assert outside == []  # all on the A4 page, inside its right margin
    for i, a in enumerate(words):
        for b in words[i + 1 :]:
            if a[0] == b[0] and a[5] and b[5]:
                dx = min(a[3], b[3]) - max(a[1], b[1])
                dy = min(a[4], b[4]) - max(a[2], b[2])
                assert dx <= 0.5 or dy <= 0.5, f"{a} overlaps {b}"


def test_a_month_not_over_yet_does_not_count_days_to_come_as_gaps(db_path):
    """Asked on 15 Oct at noon, the month's last 16 days are still to come: not gaps, not
    days without data, not part of the completeness; the summary says the month is open."""
    now = START + 14 * 86400 + 12 * 3600
    db = open_db(db_path, readonly=True)
    records = [r for r in stored_month.records(db, START, END, 60.0) if r.ts < now]
    db.conn.close()
    open_month = build_report(site="Kati", month=MONTH, records=records, now=now)
    q = open_month.quality
    assert q.days_without_data == ("2026-10-10", "2026-10-11")  # the real outage only
    assert all(d < "2026-10-15" for d in q.days_with_gaps)
    assert "month_in_progress" in q.notes and q.period_h == 14 * 24 + 12
    assert q.completeness_pct == pytest.approx(100 * q.online_h / q.period_h, abs=0.01)
    assert q.completeness_pct > 80
    assert "Mois en cours" in open_month.summary_fr and "2026-10-15 12:00" in open_month.summary_fr
    assert "2 jours ont des trous" in open_month.summary_fr
    assert "Month in progress" in open_month.summary_en
    closed = build_report(site="Kati", month=MONTH, records=records)  # as if the month ended
    assert len(closed.quality.days_without_data) == 18  # the outage and the 16 days "missing"


def test_latin1_replaces_what_the_core_fonts_cannot_draw():
    assert latin1("main d’œuvre 5 €") == "main d'oeuvre 5 EUR"
    assert latin1("Ségou ✓") == "Ségou ?"


def test_fleet_combines_three_sites_and_names_a_bad_file(report):
    sites = [
        render_json(dataclasses.replace(report, site=name)) for name in ("Mopti", "Kati", "Sikasso")
    ]
    lines, problems = combine([*sites, "{}", "not json"])
    assert [x.site for x in lines] == ["Kati", "Mopti", "Sikasso"] and len(problems) == 2
    assert lines[0].pv_kwh == round(report.energy.pv_kwh, 2)  # compared at 10 Wh
    assert lines[0].contribution == round(report.costs.contribution, 2)
    assert lines[0].availability_pct == pytest.approx(
        sum(a.availability_pct for a in report.availability) / 4, abs=0.01
    )
    assert fleet_csv(lines).count("\n") == 4 and "Sikasso" in fleet_html(lines)
    assert len(json.loads(fleet_json(lines))["sites"]) == 3


def test_mqtt_summary_is_small_json(report):
    payload = summary_payload(report)
    assert len(payload) < 1024
    body = json.loads(payload)
    assert body["month"] == MONTH and body["pv_kwh"] == round(report.energy.pv_kwh, 2)
    assert report_topic("fenascom/kati", MONTH) == "fenascom/kati/report/2026-10"


def test_empty_month_renders_everywhere(tmp_path):
    write_month(tmp_path / "e.db", empty=True)
    db = open_db(tmp_path / "e.db", readonly=True)
    empty = build_report(
        site="Vide", month=MONTH, records=stored_month.records(db, START, END, 60.0)
    )
    assert "pas de données" in render_html(empty) and render_pdf(empty)[:4] == b"%PDF"
    assert (
        ",pv_kwh,," in render_csv(empty)
        and json.loads(render_json(empty))["energy"]["pv_kwh"] is None
    )


def report_command(db_path, site: str, registry, out) -> subprocess.CompletedProcess:
    """`edged report --month MONTH` on a database, as a technician runs it."""
    cmd = [
        sys.executable,
        "-m",
        "edged.cli.report",
        "--month",
        MONTH,
        "--db",
        str(db_path),
        "--site",
        site,
        "--registry",
        str(registry),
        "--out",
        str(out),
    ]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_command_writes_every_format_and_a_fleet(db_path, tmp_path):
    registry = tmp_path / "registry.toml"
    registry.write_text(
        '[[equipment]]\nitem = "battery"\ncategory = "battery_bank"\n'
        'chemistry = "lifepo4"\ncapacity_ah = 200\nmeasured_by = "bmv"\n'
        "purchase_cost = 900000\nexpected_life_years = 5\n"
        '[[maintenance_log]]\ndate = 2026-10-05\nitem = "battery"\n'
        'action = "bornes nettoyées"\nlabour_cost = 5000\n'
        "[budget]\nfees_collected = 20000\n"
    )
    done = report_command(db_path, "Kati", registry, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    exts = ("csv", "html", "json", "pdf", "summary.json")
    assert names == [f"report-Kati-{MONTH}.{ext}" for ext in exts]
    data = json.loads((tmp_path / "out" / f"report-Kati-{MONTH}.json").read_text())
    assert data["costs"]["maintenance_spent"] == 5000 and data["costs"]["fees_collected"] == 20000
    # No --health-interval: the 5-minute rounds' own step, not a default that made it 0 %.
    assert data["pibox"]["uptime_pct"] > 90 and data["pibox"]["openclinic_pct"] > 90
    fleet = [
        sys.executable,
        "-m",
        "edged.cli.report",
        "--fleet",
        str(tmp_path / "out" / f"report-Kati-{MONTH}.json"),
        "--out",
        str(tmp_path / "f"),
    ]
    assert subprocess.run(fleet, cwd=ROOT, capture_output=True, timeout=60).returncode == 0
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [
        "fleet.csv",
        "fleet.html",
        "fleet.json",
        "fleet.pdf",  # the default formats include pdf: it was silently skipped
    ]


def test_fleet_writes_a_pdf_warns_of_mixed_months_and_rounds_its_figures(report, tmp_path):
    """`--fleet --format pdf` wrote nothing and said 0; a September report beside October ones
    passed without a word; the CSV carried 5.995499166666666 cycles."""
    files = []
    for site, month in (("Kati", MONTH), ("Mopti", MONTH), ("Gao", "2026-09")):
        path = tmp_path / f"{site}.json"
        path.write_text(render_json(dataclasses.replace(report, site=site, month=month)))
        files.append(str(path))
    cmd = [sys.executable, "-m", "edged.cli.report", "--fleet", *files, "--out"]
    done = subprocess.run(
        [*cmd, str(tmp_path / "f"), "--format", "pdf,csv,html"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "plusieurs mois (2026-09, 2026-10)" in done.stderr
    out = tmp_path / "f"
    assert sorted(p.name for p in out.iterdir()) == ["fleet.csv", "fleet.html", "fleet.pdf"]
    assert (out / "fleet.pdf").read_bytes()[:4] == b"%PDF"
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(out / "fleet.pdf"), "-"], capture_output=True, text=True
        ).stdout
        assert "Gao" in text and "Sikasso" not in text and "plusieurs mois" in text
    assert "plusieurs mois" in (out / "fleet.html").read_text()
    rows = list(csv.DictReader(io.StringIO((out / "fleet.csv").read_text())))
    efc = report.batteries[0].equivalent_full_cycles
    assert rows[0]["equivalent_full_cycles"] == str(round(efc, 2)) != str(efc)
    for row in rows:
        for key, value in row.items():
            decimals = value.split(".")[1] if value.count(".") == 1 else ""
            assert not decimals.isdigit() or len(decimals) <= 6, (key, value)
    english = subprocess.run(
        [*cmd, str(tmp_path / "e"), "--format", "json", "--lang", "en"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert english.returncode == 0 and "several months (2026-09, 2026-10)" in english.stderr


def test_the_command_refuses_a_health_interval_that_is_not_a_duration(db_path, tmp_path):
    registry = tmp_path / "r.toml"
    registry.write_text("")
    for bad in ("0", "-300", "nan", "inf"):
        cmd = [sys.executable, "-m", "edged.cli.report", "--month", MONTH, "--db", str(db_path)]
        cmd += ["--site", "K", "--health-interval", bad, "--out", str(tmp_path / "o")]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert (
            done.returncode == 2
            and "--health-interval : attendu un nombre de secondes > 0" in done.stderr
        )
        assert not (tmp_path / "o").exists()


def test_the_command_reports_registry_problems_with_key_paths(db_path, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[equipment]]\nitem = "x"\ncategory = "rocket"\ninstall_date = "soon"\n')
    done = report_command(db_path, "K", bad, tmp_path)
    assert done.returncode == 2
    assert "equipment[0].category: expected one of solar_panels" in done.stderr
    assert "equipment[0].install_date: expected a date (YYYY-MM-DD)" in done.stderr
