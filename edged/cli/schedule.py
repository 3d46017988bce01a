"""`edged schedule` (what runs next and why each job waits) and `edged backup --now`.

While the daemon runs, both read its live view; `backup --now` asks it through a request file
(`edged.power.jobs.requests`) and follows the job's progress there, so the daemon keeps watching the
battery and stops the job at the floor. When the daemon is stopped, `backup --now` runs the job
itself (same lock, same duration limit, result stored in `job_runs`) and says that nobody
watches the battery meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from edged import live
from edged.cli import i18n, progress, schedule_view
from edged.cli.config_file import load_or_report
from edged.cli.i18n import tr
from edged.clock import ClockWatch
from edged.config.jobs import JobConfig
from edged.config.settings import Config
from edged.power.jobs import requests as job_requests
from edged.power.jobs.lock import JobLock
from edged.power.jobs.process import JobProcess, JobResult, JobStartError, Outcome
from edged.power.jobs.slot import JobSlot, report_command
from edged.services.report_files import due_month
from maintenance.report.month import day_of, month_of, previous_month
from telemetry import queries, store

POLL = 0.5
_WAIT = threading.Event()  # never set: a sleep that ignores wall-clock jumps
RUN_COLS = queries.JOB_RUN_COLUMNS
INTERRUPTS = {  # what stops a standalone run, as the result's reason says it (stored in both)
    signal.SIGINT: ("Ctrl-C", "Ctrl-C"),
    signal.SIGTERM: ("SIGTERM", "SIGTERM"),
    signal.SIGHUP: ("SIGHUP : la session SSH est coupée", "SIGHUP: the SSH session dropped"),
}


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
    return load_or_report(args.config)


def _live(config: Config) -> dict[str, Any] | None:
    return next(filter(None, (live.read(p) for p in live.candidates(config))), None)


def run_schedule(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 2
    lang = i18n.language(args.lang, config)
    view = _live(config)
    stopped = view is None
    power = stored_power(config) if view is None else view.get("power")
    if args.json:
        print(
            json.dumps(
                {"daemon": "stopped" if stopped else "running", "power": power},
                indent=2,
                ensure_ascii=False,
                default=str,
            )
        )
        return 0
    if stopped:
        print(schedule_view.say("stopped", lang))
    print("\n".join(schedule_view.lines(power, lang)), end="")
    return 0


def stored_power(config: Config) -> dict[str, Any] | None:
    """What the database says of each configured job: its last result and last decision."""
    if not config.jobs:
        return None
    jobs = [
        {
            "job": j.name,
            "kind": j.policy.kind.value,
            "state": "idle",
            "last": None,
            "decision": None,
        }
        for j in config.jobs
    ]
    if not Path(config.storage.path).exists():
        return {"jobs": jobs}
    db = store.open_db(config.storage.path, readonly=True)
    try:
        for job in jobs:
            job["last"] = queries.last_job_run(db, job["job"])
            job["decision"] = queries.last_job_decision(db, job["job"])
    finally:
        db.conn.close()
    return {"jobs": jobs}


def _pick(config: Config, name: str | None) -> JobConfig | None:
    """The job asked for; the daemon's built-in monthly report counts as configured."""
    from edged.power.service import site_jobs  # the daemon's modules: only for `backup`

    for job in site_jobs(config):
        if (name is None and job.policy.kind.value == "backup") or job.name == name:
            return job
    return None


def run_backup(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 2
    lang = i18n.language(args.lang, config)
    job = _pick(config, args.job)
    if job is None:
        names = ", ".join(j.name for j in config.jobs) or "-"
        wanted = args.job or tr("of kind backup", lang)
        print(
            tr(
                "edged backup: no such job ({job}); configured: {names}",
                lang,
                job=wanted,
                names=names,
            ),
            file=sys.stderr,
        )
        return 2
    if not args.now:
        power = (_live(config) or {}).get("power") or stored_power(config) or {}
        mine = {**power, "jobs": [j for j in power.get("jobs", []) if j["job"] == job.name]}
        print("\n".join(schedule_view.lines(mine, lang)), end="")
        return 0
    view = _live(config)
    if view is not None and view.get("power"):
        return _through_daemon(config, job, args.force, lang)
    return _standalone(config, job, lang)


def _progress(job: dict[str, Any], lang: str) -> str:
    """`backup (backup) : EN COURS depuis 2 min, 45 %, reste environ 3 min`."""
    line = schedule_view.job_lines(job, None, time.time(), lang)[0].lstrip("- ")
    done, running = job.get("progress"), job.get("running_s") or 0.0
    if isinstance(done, int | float) and 0 < done < 100 and job.get("state") == "running":
        left = i18n.duration(running * (100 - done) / done, lang)
        line += tr(", about {left} left", lang, left=left)
    return line


def _through_daemon(config: Config, job: JobConfig, force: bool, lang: str) -> int:
    """Ask the daemon, show the progress from its live view, report the stored result (the
    daemon commits it at once). The run followed is the one the answer dates: just started,
    or already in progress (a scheduled run, another technician's) when the request came."""
    folder = job_requests.requests_dir(live.writable_path(config))
    asked = time.time()
    seen = (_run_after(config, job.name, 0, -math.inf) or {"id": 0})["id"]
    job_requests.ask(folder, job.name, force, asked)
    limit = time.monotonic() + job.policy.max_duration_s + 180.0
    shown, told = "", False
    while time.monotonic() < limit:
        _WAIT.wait(POLL)
        answer = job_requests.read_answer(folder, job.name)
        if answer is None:
            continue  # not taken yet (the daemon looks every few seconds)
        if not answer.get("started"):
            print(answer.get("message" if lang == "fr" else "message_en") or "?")
            return 1
        if answer.get("already_running") and not told:
            told = True
            print(
                tr("{job} is already running: following the run in progress.", lang, job=job.name)
            )
        since = float(answer.get("started_at") or asked) - 1.0
        result = _run_after(config, job.name, seen, since)
        if result is not None:
            progress.end(shown)
            return _print_result(result, lang)
        power = (_live(config) or {}).get("power") or {}
        slot = next((j for j in power.get("jobs", []) if j["job"] == job.name), None)
        if slot is not None and slot["state"] != "idle":
            shown = progress.show(_progress(slot, lang), shown)
    progress.end(shown)
    print(tr("edged backup: no result from the daemon in time", lang), file=sys.stderr)
    return 1


def _run_after(config: Config, job: str, after_id: int, since: float) -> dict[str, Any] | None:
    """The first run stored after row `after_id` started at `since` or later (-inf: the last)."""
    if not Path(config.storage.path).exists():
        return None
    db = store.open_db(config.storage.path, readonly=True)
    try:
        return queries.job_run_after(db, job, after_id, since)
    finally:
        db.conn.close()


def _standalone(config: Config, job: JobConfig, lang: str) -> int:
    """The daemon is stopped: run the job here, holding the same lock the daemon would. Ctrl-C,
    SIGHUP (SSH over 3G dropped), SIGTERM stop and record the job (in its own session, it would
    outlive this command, unrecorded, its lock released)."""
    _say(tr("The daemon is not running: the job runs here, without watching the battery.", lang))
    slot = JobSlot(job, JobLock(live.writable_path(config).parent / "locks", job.name))
    try:  # opened (created: a report reads it) before the run, so its result can be stored
        db = store.open_db(config.storage.path)
    except (store.StoreError, OSError) as exc:
        print(
            tr("edged backup: the database cannot be opened: {error}", lang, error=exc),
            file=sys.stderr,
        )
        return 2
    with _Interrupts() as interrupts, contextlib.closing(db.conn):  # autocommit: stored at once
        if not slot.file_lock.acquire():
            print(
                tr(
                    "edged backup: {job} already runs (pid {pid})",
                    lang,
                    job=job.name,
                    pid=slot.file_lock.holder_pid(),
                ),
                file=sys.stderr,
            )
            return 1
        try:
            result = _run_here(config, slot, lang, interrupts)
        finally:
            slot.file_lock.release()
        queries.store_job_run(db, result.row())
    return _print_result(result.payload(), lang)


def _run_here(config: Config, slot: JobSlot, lang: str, interrupts: _Interrupts) -> JobResult:
    job, clock = slot.config, ClockWatch(flag_path=config.power.timesync_flag, recheck_every=0)
    argv = job.command or _report_argv(config, clock.synced(), lang)
    process = JobProcess(job.name, argv, cwd=job.workdir, env=job.env)
    slot.begin(process, "manual", clock.synced())
    try:
        process.start()
        code = _follow(slot, process, lang, interrupts)
    except JobStartError as exc:
        slot.stop(
            Outcome.ERROR, f"Impossible de lancer la tâche : {exc}", f"Cannot start the job: {exc}"
        )
        code = None
    return slot.end(code, clock.synced())


def _report_argv(config: Config, synced: bool, lang: str) -> list[str]:
    """`edged report` for the month the daemon would report, else the last calendar month."""
    out, now = Path(config.storage.reports_dir), time.time()
    month = due_month(now, synced, out, config.site.id) or previous_month(month_of(day_of(now)))
    _say(tr("Report of {month}.", lang, month=month))
    return report_command(config, month, out)


class _Interrupts:
    """SIGINT/SIGHUP/SIGTERM noted, not raised: `_follow` stops the job, the result is stored."""

    def __enter__(self) -> _Interrupts:
        self.got: signal.Signals | None = None
        self._old = {sig: signal.signal(sig, self._note) for sig in INTERRUPTS}
        return self

    def _note(self, signum: int, _frame: object) -> None:
        self.got = self.got or signal.Signals(signum)

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _follow(slot: JobSlot, process: JobProcess, lang: str, interrupts: _Interrupts) -> int | None:
    limit, shown = slot.config.policy.max_duration_s, ""
    while (code := process.wait(POLL)) is None:
        if interrupts.got is not None:
            fr, en = INTERRUPTS[interrupts.got]
            slot.stop(
                Outcome.STOPPED_SHUTDOWN,
                f"Commande interrompue ({fr}) : tâche arrêtée.",
                f"The command was interrupted ({en}): job stopped.",
            )
        elif process.running_s > limit:
            slot.stop(
                Outcome.TIMEOUT,
                f"Durée limite de {limit:.0f} s dépassée.",
                f"Duration limit of {limit:.0f} s exceeded.",
            )
        if slot.stopping is not None:
            return process.terminate(slot.config.stop_grace)
        with contextlib.suppress(OSError):  # the terminal is gone: the run goes on regardless
            shown = progress.show(_progress(slot.view(), lang), shown)
    with contextlib.suppress(OSError):
        progress.end(shown)
    return code


def _say(text: str) -> None:
    """Print, unless the terminal is gone (a dropped SSH session): the run goes on regardless."""
    with contextlib.suppress(OSError):
        print(text, flush=True)


def _print_result(last: dict[str, Any], lang: str) -> int:
    text = schedule_view.outcome_text(last["outcome"], lang)
    reason = last["reason"] if lang == "fr" else last["reason_en"]
    _say(f"{last['job']}{tr(':', lang)} {text} — {reason}")
    return 0 if last["outcome"] == "success" else 1
