"""`edged schedule` (what runs next and why each job waits) and `edged backup --now`.

While the daemon runs, both read its live view; `backup --now` asks it through a request file
(`edged.job_requests`) and follows the job's progress there, so the daemon keeps watching the
battery and stops the job at the floor. When the daemon is stopped, `backup --now` runs the job
itself (same lock, same duration limit, result stored in `job_runs`) and says that nobody
watches the battery meanwhile.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from edged import i18n, job_requests, live, schedule_view
from edged.job_lock import JobLock
from edged.job_process import JobProcess, JobStartError, Outcome
from edged.job_slot import JobSlot
from edged.settings import Config, JobConfig
from telemetry import store

POLL = 0.5
_WAIT = threading.Event()  # never set: a sleep that ignores wall-clock jumps


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schedule", help="jobs: next runs and why each one waits")
    p.add_argument("--config")
    p.add_argument("--json", action="store_true")
    p.add_argument("--lang", choices=i18n.LANGS)
    p.set_defaults(handler=run_schedule)
    b = sub.add_parser("backup", help="run a backup job now (--now), with its progress")
    b.add_argument("--config")
    b.add_argument("--now", action="store_true", help="start it now instead of waiting")
    b.add_argument("--job", help="job name (default: the first job of kind backup)")
    b.add_argument("--force", action="store_true", help="even below the battery floor")
    b.add_argument("--lang", choices=i18n.LANGS)
    b.set_defaults(handler=run_backup)


def _config(args: argparse.Namespace) -> Config | None:
    from edged.cli import _load_or_report

    return _load_or_report(args.config)


def _live(config: Config) -> dict[str, Any] | None:
    return next(filter(None, (live.read(p) for p in live.candidates(config))), None)


def run_schedule(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 2
    lang = i18n.language(args.lang)
    view = _live(config)
    power = view.get("power") if view else None
    stopped = view is None
    if stopped:
        power = stored_power(config)
    if args.json:
        print(json.dumps({"daemon": "stopped" if stopped else "running", "power": power},
                         indent=2, ensure_ascii=False, default=str))  # fmt: skip
        return 0
    if stopped:
        print(schedule_view.say("stopped", lang))
    print("\n".join(schedule_view.lines(power, lang)), end="")
    return 0


def stored_power(config: Config) -> dict[str, Any] | None:
    """What the database says of each configured job: its last result and last decision."""
    if not config.jobs:
        return None
    jobs = [{"job": j.name, "kind": j.policy.kind.value, "state": "idle", "last": None,
             "decision": None} for j in config.jobs]  # fmt: skip
    if not Path(config.storage.path).exists():
        return {"jobs": jobs}
    db = store.open_db(config.storage.path, readonly=True)
    try:
        for job in jobs:
            job["last"] = _last_run(db, job["job"])
            row = db.execute("SELECT action, code, message, message_en FROM power_events WHERE"
                             " kind = 'job' AND subject = ? ORDER BY id DESC LIMIT 1",
                             [job["job"]]).fetchone()  # fmt: skip
            if row:
                job["decision"] = dict(zip(("action", "code", "message", "message_en"), row,
                                           strict=True))  # fmt: skip
    finally:
        db.conn.close()
    return {"jobs": jobs}


def _last_run(db, job: str) -> dict[str, Any] | None:
    cols = ("job", "kind", "trigger", "started", "ended", "duration_s", "outcome", "exit_code",
            "reason", "reason_en")  # fmt: skip
    row = db.execute(f"SELECT {', '.join(cols)} FROM job_runs WHERE job = ?"
                     " ORDER BY id DESC LIMIT 1", [job]).fetchone()  # fmt: skip
    return dict(zip(cols, row, strict=True)) if row else None


def _pick(config: Config, name: str | None) -> JobConfig | None:
    for job in config.jobs:
        if (name is None and job.policy.kind.value == "backup") or job.name == name:
            return job
    return None


def run_backup(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 2
    lang = i18n.language(args.lang)
    job = _pick(config, args.job)
    if job is None:
        names = ", ".join(j.name for j in config.jobs) or "-"
        print(f"edged backup: no such job ({args.job or 'kind backup'}); configured: {names}",
              file=sys.stderr)  # fmt: skip
        return 2
    if not args.now:
        print("\n".join(schedule_view.lines(_live_or_stored(config, job), lang)), end="")
        return 0
    view = _live(config)
    if view is not None and view.get("power"):
        return _through_daemon(config, job, args.force, lang)
    return _standalone(config, job, lang)


def _live_or_stored(config: Config, job: JobConfig) -> dict[str, Any] | None:
    view = _live(config)
    power = (view or {}).get("power") or stored_power(config) or {}
    return {**power, "jobs": [j for j in power.get("jobs", []) if j["job"] == job.name]}


def _progress(job: dict[str, Any], lang: str) -> str:
    return schedule_view.job_lines(job, None, time.time(), lang)[0].lstrip("- ")


def _through_daemon(config: Config, job: JobConfig, force: bool, lang: str) -> int:
    """Ask the daemon, show the progress from its live view, report the stored result (the
    daemon commits a result at once, so the database says when the run is over)."""
    folder = job_requests.requests_dir(live.writable_path(config))
    asked = time.time()
    job_requests.ask(folder, job.name, force, asked)
    limit = time.monotonic() + job.policy.max_duration_s + 180.0
    shown = ""
    while time.monotonic() < limit:
        _WAIT.wait(POLL)
        answer = job_requests.read_answer(folder, job.name)
        if answer is None:
            continue  # not taken yet (the daemon looks every few seconds)
        if not answer.get("started"):
            print(answer.get("message" if lang == "fr" else "message_en") or "?")
            return 1
        result = _manual_result(config, job.name, asked)
        if result is not None:
            return _print_result(result, lang)
        power = (_live(config) or {}).get("power") or {}
        slot = next((j for j in power.get("jobs", []) if j["job"] == job.name), None)
        if slot is not None and slot["state"] != "idle":
            line = _progress(slot, lang)
            if line != shown:
                print(line, flush=True)
                shown = line
    print("edged backup: no result from the daemon in time", file=sys.stderr)
    return 1


def _manual_result(config: Config, job: str, asked: float) -> dict[str, Any] | None:
    db = store.open_db(config.storage.path, readonly=True)
    try:
        last = _last_run(db, job)
    finally:
        db.conn.close()
    if last and last["trigger"] == "manual" and last["ended"] >= asked:
        return last
    return None


def _standalone(config: Config, job: JobConfig, lang: str) -> int:
    """The daemon is stopped: run the job here, holding the same lock the daemon would."""
    print("Le démon ne tourne pas : la tâche est lancée ici, sans surveillance de la batterie."
          if lang == "fr" else "The daemon is not running: the job runs here, without watching"
          " the battery.", flush=True)  # fmt: skip
    lock_dir = live.writable_path(config).parent / "locks"
    slot = JobSlot(job, JobLock(lock_dir, job.name))
    if not slot.file_lock.acquire():
        print(f"edged backup: {job.name} already runs (pid {slot.file_lock.holder_pid()})",
              file=sys.stderr)  # fmt: skip
        return 1
    try:
        process = JobProcess(job.name, job.command, cwd=job.workdir, env=job.env)
        slot.begin(process, "manual", True)
        try:
            process.start()
            code = _follow(slot, process, lang)
        except JobStartError as exc:
            slot.stop(Outcome.ERROR, f"Impossible de lancer la tâche : {exc}",
                      f"Cannot start the job: {exc}")  # fmt: skip
            code = None
        result = slot.end(code, True)
    finally:
        slot.file_lock.release()
    db = store.open_db(config.storage.path)
    with db.conn:
        db.execute(store.ROW_SQL["job_run"], result.row())
    db.conn.close()
    return _print_result(result.payload(), lang)


def _follow(slot: JobSlot, process: JobProcess, lang: str) -> int | None:
    limit, shown = slot.config.policy.max_duration_s, ""
    try:
        while (code := process.wait(POLL)) is None:
            if process.running_s > limit:
                slot.stop(Outcome.TIMEOUT, f"Durée limite de {limit:.0f} s dépassée.",
                          f"Duration limit of {limit:.0f} s exceeded.")  # fmt: skip
                return process.terminate(slot.config.stop_grace)
            line = _progress(slot.view(), lang)
            if line != shown:
                print(line, flush=True)
                shown = line
    except KeyboardInterrupt:
        slot.stop(Outcome.STOPPED_SHUTDOWN, "Interrompue (Ctrl-C).", "Interrupted (Ctrl-C).")
        return process.terminate(slot.config.stop_grace)
    return code


def _print_result(last: dict[str, Any], lang: str) -> int:
    text = schedule_view.outcome_text(last["outcome"], lang)
    reason = last["reason"] if lang == "fr" else last["reason_en"]
    print(f"{last['job']} : {text} — {reason}" if lang == "fr" else f"{last['job']}: {text} —"
          f" {reason}")  # fmt: skip
    return 0 if last["outcome"] == "success" else 1
