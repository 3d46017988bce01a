"""Jobs and load shedding as lines for people: `edged schedule`, `edged backup` and `edged status`.

Pure: takes the live view's `power` block (or rows read from the database when the daemon is
stopped) and a language; French first. Each waiting job says why, in the policy's own words.
"""

from __future__ import annotations

import time
from typing import Any

from edged.cli import i18n
from edged.cli.i18n import N_, tr

_TEXT: dict[str, str] = {  # key: English msgid (French in the catalogue)
    "title": N_("Scheduled jobs"),
    "none": N_("No job configured ([[jobs]])."),
    "running": N_("RUNNING for {ago}{progress}"),
    "suspended": N_("SUSPENDED (battery) after {ago}"),
    "idle": N_("waiting"),
    "why": N_("Why: {text}"),
    "next": N_("Next check: {at}"),
    "last": N_("Last run: {outcome}, {when}, took {duration}"),
    "never": N_("Never run."),
    "shedding": N_("Load shedding: {level} — {text}"),
    "stopped": N_("The daemon is not running: stored results only."),
}
OUTCOMES: dict[str, str] = {
    "success": N_("success"),
    "failed": N_("FAILED"),
    "timeout": N_("STOPPED (duration limit)"),
    "stopped_low_battery": N_("STOPPED (low battery)"),
    "stopped_shutdown": N_("STOPPED (edged stopping)"),
    "error": N_("ERROR (not started)"),
}
LEVELS: dict[str, str] = {
    "normal": N_("normal"),
    "warn": N_("warning"),
    "stop_services": N_("services stopped"),
    "shutdown": N_("PiBox shutting down"),
}


def say(key: str, lang: str, **values: object) -> str:
    return tr(_TEXT[key], lang, **values)


def outcome_text(outcome: str, lang: str) -> str:
    return tr(OUTCOMES[outcome], lang) if outcome in OUTCOMES else outcome


def job_lines(job: dict[str, Any], next_at: float | None, now: float, lang: str) -> list[str]:
    """One job: its state, why it waits (or runs), its next check and its last result."""
    state = job.get("state", "idle")
    head = f"- {job['job']} ({job.get('kind', '?')}){tr(':', lang)} "
    if state in ("running", "suspended"):
        progress = job.get("progress")
        extra = f", {progress:.0f} %" if isinstance(progress, int | float) else ""
        head += say(
            state, lang, ago=i18n.duration(job.get("running_s") or 0.0, lang), progress=extra
        )
    else:
        head += say("idle", lang)
    out = [head]
    decision = job.get("decision")
    if decision:
        out.append(
            "    " + say("why", lang, text=decision["message" if lang == "fr" else "message_en"])
        )
    if next_at is not None and state == "idle":
        out.append("    " + say("next", lang, at=i18n.when(next_at, lang)))
    last = job.get("last")
    if last:
        out.append(
            "    "
            + say(
                "last",
                lang,
                outcome=outcome_text(last["outcome"], lang),
                when=i18n.when(last["started"], lang),
                duration=i18n.duration(last["duration_s"], lang),
            )
        )
        if last["outcome"] != "success":
            out.append("      " + (last["reason"] if lang == "fr" else last["reason_en"]))
    else:
        out.append("    " + say("never", lang))
    return out


def lines(power: dict[str, Any] | None, lang: str, now: float | None = None) -> list[str]:
    """The whole section from the live view's `power` block (None: nothing configured)."""
    now = time.time() if now is None else now
    out = [say("title", lang)]
    if not power:
        return [*out, "  " + say("none", lang), ""]
    shed = power.get("shedding")
    if shed and shed.get("message"):
        level = tr(LEVELS[shed["level"]], lang) if shed["level"] in LEVELS else shed["level"]
        text = shed["message" if lang == "fr" else "message_en"]
        out.append("  " + say("shedding", lang, level=level, text=text))
    nexts = power.get("next_runs") or {}
    for job in power.get("jobs") or []:
        out.extend(
            "  " + line for line in job_lines(job, nexts.get(f"job:{job['job']}"), now, lang)
        )
    if not power.get("jobs"):
        out.append("  " + say("none", lang))
    return [*out, ""]
