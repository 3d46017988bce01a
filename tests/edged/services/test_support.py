"""The support bundle: secrets absent from every member (the broker's password, the report
endpoint's token, a signing key, even inside the logs and in TOML spellings a line filter would
miss), the archive bounded whatever the log's size, the summary's content (issue 16 calls it)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

from edged.config.loader import load
from edged.services import support
from telemetry.store import open_db
from tests.peers.daemon import write_config

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "s3cret-Br0ker-pw"
TOKEN = "glasses-T0ken-42"


def site(tmp_path: Path) -> Path:
    config = write_config(tmp_path, devices="", broker_port=1)
    text = config.read_text().replace(
        "[mqtt]\n", f'[mqtt]\nusername = "kalaban"\npassword = "{PASSWORD}"\n'
    )
    config.write_text(text + f'\n[health.report]\ntoken = """{TOKEN}"""\n')
    db = open_db(tmp_path / "edged.db")
    db.conn.execute("INSERT INTO kv (key, value) VALUES ('a', 'b')")
    db.conn.close()
    return config


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def test_secrets_are_absent_and_the_archive_is_bounded(tmp_path):
    config_path = site(tmp_path)
    config = load(str(config_path))
    log = tmp_path / "edged.log"
    with log.open("w") as f:  # 60 MB of log, the password logged once by some mistake
        for i in range(600_000):
            f.write(f"2026-01-01 INFO edged.daemon: line {i:07d} " + "x" * 60 + "\n")
        f.write(f"ERROR connect failed for kalaban:{PASSWORD}@broker\nthe last line\n")
    archive = support.write_bundle(config, tmp_path / "usb", lines=50_000, log_file=log)

    assert archive.stat().st_size < 3 * 2**20  # 60 MB of logs in, a bounded archive out
    files = members(archive)
    assert set(files) == {
        f"edged-support/{n}" for n in ("summary.json", "config.json", "doctor.txt", "logs.txt")
    }
    for name, blob in files.items():
        assert len(blob) <= support.MAX_MEMBER_BYTES + 100, name
        assert PASSWORD.encode() not in blob and TOKEN.encode() not in blob, name
    logs = files["edged-support/logs.txt"].decode()
    assert logs.rstrip().endswith("the last line") and "kalaban:***@broker" in logs
    shown = json.loads(files["edged-support/config.json"])["config"]
    assert shown["mqtt"]["password"] == "***" and shown["mqtt"]["username"] == "kalaban"
    assert shown["health"]["report"]["token"] == "***"
    summary = json.loads(files["edged-support/summary.json"])
    assert summary["database"]["rows"]["kv"] == 1 and summary["database"]["quick_check"] == "ok"
    assert summary["versions"]["edged"] and summary["daemon"] == "stopped"
    doctor_text = files["edged-support/doctor.txt"].decode()
    assert "vérifications" in doctor_text and "edged doctor: checks" in doctor_text


def test_a_config_that_does_not_parse_is_left_out_whole(tmp_path):
    bad = tmp_path / "edged.toml"
    bad.write_text(f'[mqtt]\npassword = "{PASSWORD}\n')  # unterminated: no parser can tell
    text, secrets = support.redacted_config(bad)
    assert PASSWORD not in text and "error" in json.loads(text) and secrets == set()


def test_redaction_by_key_name_keeps_paths_and_numbers():
    raw = {
        "mqtt": {"password": "pw", "port": 8883, "tls": {"key_file": "/etc/k.pem"}},
        "remote": {"signing_key": "abcd", "keys": ["a"]},
        "x": [{"token": "t"}],
    }
    assert support.redact(raw) == {
        "mqtt": {"password": "***", "port": 8883, "tls": {"key_file": "/etc/k.pem"}},
        "remote": {"signing_key": "***", "keys": ["a"]},
        "x": [{"token": "***"}],
    }


def test_the_command_writes_the_archive_where_asked(tmp_path):
    config_path = site(tmp_path)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "edged.cli",
            "support-bundle",
            "--config",
            str(config_path),
            "--out",
            str(tmp_path / "usb"),
            "--log",
            str(tmp_path / "absent.log"),
            "--lang",
            "en",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    archive = Path(out.stdout.split("Support archive: ")[1].split(" (")[0])
    assert archive.parent == tmp_path / "usb" and tarfile.is_tarfile(archive)
    logs = members(archive)["edged-support/logs.txt"].decode()
    assert logs.startswith(f"# from: {tmp_path / 'absent.log'}: ")  # said, not raised


def test_a_jobs_environment_is_secret_as_a_whole_whatever_its_names():
    raw = {"jobs": [{"name": "backup", "env": {"MYSQL_PWD": "s3cret!", "HOST": "pibox"}}]}
    assert support.redact(raw) == {"jobs": [{"name": "backup", "env": "***"}]}
    assert support.secrets_of(raw) == {"s3cret!", "pibox"}
    assert support.redact({"jobs": [{"env": {}}]}) == {"jobs": [{"env": {}}]}  # nothing to hide
