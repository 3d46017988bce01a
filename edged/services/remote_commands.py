"""What each remote command does, once `edged.services.remote` has let it through.

Each handler takes the site's parts (`Site`) and the command, checks its own arguments and
returns the result (JSON-able), or raises `CommandError` with a code of
`telemetry.commands.REASONS`. A handler checks all its arguments before it changes anything, so a
refused command has no partial effect. Handlers run on the remote service's thread; SQL goes
through `telemetry.queries` on the Writer's thread (`Writer.call`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edged import __version__
from edged.config.settings import Config
from edged.power.jobs import requests as job_requests
from edged.power.jobs.slot import report_command
from edged.services.report_files import read_summary
from maintenance.energy.policy import JobKind
from maintenance.report.month import parse_month
from maintenance.report.registry import DEFAULT_CURRENCY, validate_log
from telemetry import queries, topics
from telemetry.commands import Command
from telemetry.mqtt import Publisher
from telemetry.writer import Writer

BACKUP_ANSWER_S = 20.0
"""How long `backup_now` waits for the daemon's decision (its main loop takes it within 1 s)."""
REPORT_TIMEOUT_S = 900.0
MAX_TEXT = 500


class CommandError(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


@dataclass(slots=True)
class Site:
    """The daemon's parts a command may use (the composition root fills it in)."""

    config: Config
    writer: Writer
    publisher: Publisher
    requests: Path
    """The power service's request folder (`edged backup --now` uses the same)."""
    status: Callable[[], Any]
    counters: Callable[[], dict[str, Any]]
    errors: Callable[[], list[dict[str, Any]]]


def ping(site: Site, command: Command) -> dict[str, Any]:
    return {"pong": True, "ts": time.time(), "version": __version__}


def status(site: Site, command: Command) -> Any:
    return site.status()


def support_summary(site: Site, command: Command) -> dict[str, Any]:
    from edged.services import support  # the bundle's code (tarfile, the doctor) when asked

    try:
        database: Any = site.writer.call(queries.database_summary)
    except Exception as exc:  # a support summary must come back even with a broken store
        database = {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "config": support.redact(dataclasses.asdict(site.config)),
        "errors": site.errors(),
        "database": database,
        "counters": site.counters(),
    }


def alarm_ack(site: Site, command: Command) -> dict[str, Any]:
    alarm = command.args.get("id")
    by = command.args.get("by", "remote")
    if isinstance(alarm, bool) or not isinstance(alarm, int | str) or alarm == "":
        raise CommandError("bad_args", "id: expected an alarm id ({rule}.{subject}) or number")
    if not isinstance(by, str) or not 0 < len(by) <= 64:
        raise CommandError("bad_args", "by: expected a name of 1-64 characters")
    _only(command, "id", "by")
    state, row = site.writer.call(lambda db: queries.acknowledge_alarm(db, alarm, by, time.time()))
    if state == "unknown":
        raise CommandError("not_found", f"no active alarm {alarm!r}")
    return {"alarm": row, "state": state, "by": by}


def backup_now(site: Site, command: Command) -> dict[str, Any]:
    backups = [j.name for j in site.config.jobs if j.policy.kind is JobKind.BACKUP]
    job = command.args.get("job", backups[0] if backups else None)
    _only(command, "job")
    if job not in backups:
        raise CommandError("bad_args", f"job: expected one of {backups or 'none configured'}")
    asked = time.time()
    job_requests.ask(site.requests, job, False, asked)
    deadline = time.monotonic() + BACKUP_ANSWER_S
    while time.monotonic() < deadline:
        answer = job_requests.read_answer(site.requests, job)
        if answer is not None:
            return {"job": job, **answer}
        time.sleep(0.2)
    raise CommandError("unavailable", f"no decision on {job!r} within {BACKUP_ANSWER_S:.0f} s")


def check_month(command: Command) -> str:
    """The `month` argument of `report_regenerate`: an ended month."""
    month = command.args.get("month")
    _only(command, "month")
    try:
        year, number = parse_month(month)
    except ValueError as exc:
        raise CommandError("bad_args", str(exc)) from None
    if (year, number) >= (dt.datetime.now(dt.UTC).year, dt.datetime.now(dt.UTC).month):
        raise CommandError("bad_args", f"month: {month!r} has not ended")
    return f"{year:04d}-{number:02d}"


def report_regenerate(site: Site, month: str) -> dict[str, Any]:
    """`edged report` in a subprocess (as the monthly job runs it: its RAM is given back), then
    its summary published, retained, on `P/report/{month}`."""
    out = Path(site.config.storage.reports_dir)
    argv = report_command(site.config, month, out)
    try:
        done = subprocess.run(argv, capture_output=True, timeout=REPORT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandError("failed", str(exc)[:MAX_TEXT]) from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).decode(errors="replace")[-MAX_TEXT:]
        raise CommandError("failed", f"edged report exited {done.returncode}: {tail}")
    summary = read_summary(out, site.config.site.id, month)
    if summary is not None:
        site.publisher.publish_retained(topics.report_topic(site.config.topic_root, month), summary)
    files = sorted(p.name for p in out.glob(f"report-{site.config.site.id}-{month}.*"))
    return {"month": month, "files": files}


def maintenance_log(site: Site, command: Command) -> dict[str, Any]:
    items = {i.item: i for i in site.config.equipment}
    raw = {"date": dt.datetime.now(dt.UTC).date().isoformat(), **command.args}
    entries, problems = validate_log([raw], set(items), key="args")
    if problems:
        lines = (f"{path.removeprefix('args[0].')}: expected {what}" for path, what in problems)
        detail = "; ".join(lines)
        raise CommandError("bad_args", detail[:MAX_TEXT])
    entry = entries[0]
    currency = getattr(items[entry.item], "currency", DEFAULT_CURRENCY)
    row = site.writer.call(lambda db: queries.add_maintenance(db, entry.row(currency, time.time())))
    return {"entry": row, "date": entry.date.isoformat(), "item": entry.item}


def resend(site: Site, command: Command) -> dict[str, Any]:
    """Republish `device`'s stored records with `from <= ts < to` on `P/history/{device}`."""
    device, start, end = (command.args.get(k) for k in ("device", "from", "to"))
    _only(command, "device", "from", "to")
    if not isinstance(device, str) or not 0 < len(device) <= 64:
        raise CommandError("bad_args", "device: expected a device id")
    if not (_number(start) and _number(end) and start < end):
        raise CommandError("bad_args", "from, to: expected unix times with from < to")
    limit = site.config.remote.resend_max
    records, damaged = site.writer.call(
        lambda db: queries.records_between(db, device, start, end, limit)
    )
    batch, root = site.config.telemetry.history_batch, site.config.topic_root
    compress = site.config.telemetry.compress_history
    messages = [records[i : i + batch] for i in range(0, len(records), batch)]
    for chunk in messages:
        payload = topics.history_payload(chunk, compress, site.config.telemetry.payload)
        site.publisher.publish_command(topics.history_topic(root, device), payload)
    complete = len(records) + damaged < limit
    return {
        "device": device,
        "records": len(records),
        "messages": len(messages),
        "damaged": damaged,
        "complete": complete,
        "next_from": None if complete or not records else records[-1].ts + 1e-3,
    }


def live(site: Site, command: Command) -> dict[str, Any]:
    """Frugal mode: records go live on `P/telemetry` for `minutes` (0 turns them off), so a
    technician watching the site sees values no older than one publish window; capped at
    `[telemetry] live_max_minutes`. In live mode records always go live: nothing to do."""
    _only(command, "minutes")
    minutes = command.args.get("minutes")
    if not _number(minutes) or not 0 <= minutes <= 24 * 60:
        raise CommandError("bad_args", "minutes: expected a number of minutes 0-1440")
    if site.config.telemetry.mode != "frugal":
        return {"mode": site.config.telemetry.mode, "live_s": None}
    granted = site.publisher.request_live(minutes * 60.0)
    return {"mode": "frugal", "live_s": granted, "until": time.time() + granted}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and _finite(value)


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _only(command: Command, *keys: str) -> None:
    extra = sorted(set(command.args) - set(keys))
    if extra:
        raise CommandError("bad_args", f"unknown arguments {extra[:5]!r:.100}")


HANDLERS: dict[str, Callable[[Site, Command], Any]] = {
    "ping": ping,
    "status": status,
    "support_summary": support_summary,
    "alarm_ack": alarm_ack,
    "backup_now": backup_now,
    "maintenance_log": maintenance_log,
    "resend": resend,
    "live": live,
}
"""Commands answered at once; `report_regenerate` runs apart (minutes), see the service."""
