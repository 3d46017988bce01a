"""Jobs and load shedding as lines for people: `edged schedule`, `edged backup` and `edged status`.

Pure: takes the live view's `power` block (or rows read from the database when the daemon is
stopped) and a language; French first. Each waiting job says why, in the policy's own words.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from edged.cli import i18n

_TEXT: dict[str, tuple[str, str]] = {
    "title": ("Tâches planifiées", "Scheduled jobs"),
    "none": ("Aucune tâche configurée ([[jobs]]).", "No job configured ([[jobs]])."),
    "running": ("EN COURS depuis {ago}{progress}", "RUNNING for {ago}{progress}"),
    "suspended": ("SUSPENDUE (batterie) après {ago}", "SUSPENDED (battery) after {ago}"),
    "idle": ("en attente", "waiting"),
    "why": ("Pourquoi : {text}", "Why: {text}"),
    "next": ("Prochaine vérification : {at}", "Next check: {at}"),
    "last": (
        "Dernière exécution : {outcome}, {when}, durée {duration}",
        "Last run: {outcome}, {when}, took {duration}",
    ),
    "never": ("Jamais exécutée.", "Never run."),
    "shedding": ("Délestage : {level} — {text}", "Load shedding: {level} — {text}"),
    "stopped": (
        "Le démon ne tourne pas : résultats enregistrés seulement.",
        "The daemon is not running: stored results only.",
    ),
}
OUTCOMES: dict[str, tuple[str, str]] = {
    "success": ("réussie", "success"),
    "failed": ("ÉCHEC", "FAILED"),
    "timeout": ("ARRÊTÉE (durée limite)", "STOPPED (duration limit)"),
    "stopped_low_battery": ("ARRÊTÉE (batterie faible)", "STOPPED (low battery)"),
    "stopped_shutdown": ("ARRÊTÉE (arrêt d'edged)", "STOPPED (edged stopping)"),
    "error": ("ERREUR (non lancée)", "ERROR (not started)"),
}
LEVELS = {
    "normal": "normal",
    "warn": "alerte",
    "stop_services": "services arrêtés",
    "shutdown": "arrêt du PiBox",
}


def say(key: str, lang: str, **values: object) -> str:
    fr, en = _TEXT[key]
    return (fr if lang == "fr" else en).format(**values)


def outcome_text(outcome: str, lang: str) -> str:
    pair = OUTCOMES.get(outcome, (outcome, outcome))
    return pair[0] if lang == "fr" else pair[1]


def _when(ts: float, lang: str) -> str:
    text = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"le {text}" if lang == "fr" else f"on {text}"


def job_lines(job: dict[str, Any], next_at: float | None, now: float, lang: str) -> list[str]:
    """One job: its state, why it waits (or runs), its next check and its last result."""
    state = job.get("state", "idle")
    head = f"- {job['job']} ({job.get('kind', '?')}) : " if lang == "fr" else f"- {job['job']} "
    head = head if lang == "fr" else head + f"({job.get('kind', '?')}): "
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
        out.append("    " + say("next", lang, at=_when(next_at, lang).split(" ", 1)[1]))
    last = job.get("last")
    if last:
        out.append(
            "    "
            + say(
                "last",
                lang,
                outcome=outcome_text(last["outcome"], lang),
                when=_when(last["started"], lang),
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
        level = LEVELS.get(shed["level"], shed["level"]) if lang == "fr" else shed["level"]
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
