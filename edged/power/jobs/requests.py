"""`edged backup --now` asks the running daemon through files beside the live view (tmpfs).

The CLI drops `{job}.run` (JSON: force, asked at) into the requests folder; the daemon's main
loop takes it within seconds, decides, and leaves `{job}.answer` (started or not, and why). No
socket and no MQTT round trip: it works with the uplink down, and a request left behind by a
CLI that was interrupted is simply taken once. Files are written whole (tmp + rename).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def requests_dir(live_path: str | Path) -> Path:
    return Path(live_path).parent / "requests"


def _write(path: Path, body: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(body), encoding="utf-8")
    os.replace(tmp, path)


def ask(folder: Path, job: str, force: bool, asked_at: float) -> None:
    (folder / f"{job}.answer").unlink(missing_ok=True)
    _write(folder / f"{job}.run", {"job": job, "force": force, "asked_at": asked_at})


def take(folder: Path) -> list[dict[str, Any]]:
    """The pending requests, each removed as it is read (unreadable ones are dropped, logged)."""
    found = []
    for path in sorted(folder.glob("*.run")) if folder.is_dir() else []:
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            found.append({"job": str(body["job"]), "force": bool(body.get("force", False))})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable job request %s: %s", path, exc)
        path.unlink(missing_ok=True)
    return found


def answer(folder: Path, job: str, body: dict[str, Any]) -> None:
    _write(folder / f"{job}.answer", body)


def read_answer(folder: Path, job: str) -> dict[str, Any] | None:
    try:
        return json.loads((folder / f"{job}.answer").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
