"""What a technician carries away from a site: `summary(config)` and the support bundle.

`summary(config) -> dict` is the site's state as plain JSON-able data: versions, the database
(size, schema, `PRAGMA quick_check`, rows per table: a summary, never the rows), the live view
(counters, transitions, devices) and the doctor's verdicts. It is cheap enough to answer a remote
command (`support_summary`, issue 16) and holds no secret: the config's secrets are not in it.

`write_bundle(...)` puts it in a tar.gz with the config (secrets replaced by "***", rebuilt
from the parsed TOML so no quoting trick keeps a secret in), the last log lines (journalctl
when there is a journal, else a log file) with any secret value scrubbed, and the doctor's
report in both languages. Every member is capped, so the archive is bounded whatever the logs.
"""

from __future__ import annotations

import io
import json
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from edged import __version__, live
from edged.config.settings import Config
from edged.services import doctor
from telemetry import inspection

SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|psk|(^|_)key$|^env$)", re.IGNORECASE
)
"""Config keys whose values are secrets. `key_file`/`ca_file` are paths: they stay. A job's
`env` is secret as a whole (MYSQL_PWD, a backup key: any name a script may read)."""
REDACTED = "***"
PACKAGES = ("pyserial", "paho-mqtt", "pymodbus", "apscheduler", "psutil", "fpdf2")
LOG_LINES = 2000
MAX_MEMBER_BYTES = 2 * 2**20
"""No member above this: 2 MB of logs is days of a healthy daemon's journal."""


def versions() -> dict[str, str]:
    found = {"edged": __version__, "python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    found["platform"] = platform.platform()
    found["machine"] = platform.machine()
    return found


def database_summary(path: str | Path) -> dict[str, Any]:
    """Sizes, schema, integrity (quick_check) and rows per table, read-only."""
    return inspection.file_summary(path)


def summary(config: Config, *, with_doctor: bool = True) -> dict[str, Any]:
    """The site's state for a technician or a remote command; no secret, no stored rows.
    `with_doctor=False` skips the doctor (its broker check can take `BROKER_TIMEOUT` s)."""
    view = next(filter(None, (live.read(p) for p in live.candidates(config))), None)
    result: dict[str, Any] = {
        "site": {"id": config.site.id, "name": config.site.name},
        "generated": time.time(),
        "versions": versions(),
        "database": database_summary(config.storage.path),
        "disk": _disk(Path(config.storage.path).parent),
        "daemon": "running" if doctor.daemon_running(config) else "stopped",
        "live": view,
    }
    if with_doctor:
        checks = doctor.examine(str(config.source))
        result["doctor"] = [c.as_dict("en") for c in checks]
    return result


def _disk(folder: Path) -> dict[str, int] | None:
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return None
    return {"total": usage.total, "free": usage.free}


def redact(value: Any, key: str = "") -> Any:
    """`value` (a parsed config, or a config's dataclasses as dicts) with every secret replaced
    by `***`; used by the support bundle and the remote `support_summary` command alike."""
    if key and SECRET_KEY.search(key) and value not in (None, "", {}, (), []):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    return value


def secrets_of(value: Any, key: str = "", inside_secret: bool = False) -> set[str]:
    """Every secret string in the parsed config, to scrub from the logs too."""
    secret = inside_secret or bool(key and SECRET_KEY.search(key))
    if isinstance(value, Mapping):
        return set().union(*(secrets_of(v, str(k), secret) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return set().union(*(secrets_of(v, key, secret) for v in value))
    if secret and isinstance(value, str) and len(value) >= 4:
        return {value}
    return set()


def redacted_config(path: Path) -> tuple[str, set[str]]:
    """(the config as redacted JSON, its secrets). A file that does not parse is left out
    entirely: its raw text could hold a secret where no parser can tell."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return json.dumps({"source": str(path), "error": str(exc)}, indent=1), set()
    body = {"source": str(path), "config": redact(raw)}
    return json.dumps(body, indent=1, ensure_ascii=False, default=str), secrets_of(raw)


def log_tail(lines: int, log_file: Path | None) -> tuple[str, str]:
    """(where from, the last `lines` lines): the journal of edged.service, else `log_file`."""
    journalctl = shutil.which("journalctl")
    if journalctl and log_file is None:
        try:
            out = subprocess.run(
                [journalctl, "-u", "edged", "-n", str(lines), "--no-pager", "-o", "short-iso"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if out.returncode == 0 and out.stdout.strip() and "-- No entries --" not in out.stdout:
                return "journalctl -u edged", out.stdout
        except (OSError, subprocess.TimeoutExpired):
            pass
    if log_file is None:
        return "none", ""
    try:
        with log_file.open("rb") as f:  # read from the end: a log may be gigabytes
            f.seek(0, 2)
            f.seek(max(0, f.tell() - MAX_MEMBER_BYTES))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"{log_file}: {exc}", ""
    return str(log_file), "\n".join(text.splitlines()[-lines:]) + "\n"


def scrub(text: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def capped(data: bytes) -> bytes:
    """The end of `data` if it is too big (the newest lines matter), marked as cut."""
    if len(data) <= MAX_MEMBER_BYTES:
        return data
    return b"[... cut: only the last bytes are kept ...]\n" + data[-MAX_MEMBER_BYTES:]


def write_bundle(
    config: Config,
    out_dir: Path,
    *,
    lines: int = LOG_LINES,
    log_file: Path | None = None,
) -> Path:
    """The support archive in `out_dir`; returns its path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = out_dir / f"edged-support-{config.site.id}-{stamp}.tar.gz"
    config_json, secrets = redacted_config(Path(config.source))
    secrets |= {s for s in (config.mqtt.password,) if s}
    data = summary(config, with_doctor=False)
    checks = doctor.examine(str(config.source))
    data["doctor"] = [c.as_dict("en") for c in checks]
    origin, logs = log_tail(lines, log_file)
    members = {
        "summary.json": json.dumps(data, indent=1, ensure_ascii=False, default=str),
        "config.json": config_json,
        "doctor.txt": doctor.render(checks, "fr") + "\n" + doctor.render(checks, "en"),
        "logs.txt": f"# from: {origin}\n" + logs,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            blob = capped(scrub(text, secrets).encode("utf-8"))
            info = tarfile.TarInfo(f"edged-support/{name}")
            info.size, info.mtime, info.mode = len(blob), int(time.time()), 0o640
            tar.addfile(info, io.BytesIO(blob))
    path.chmod(0o640)
    return path
