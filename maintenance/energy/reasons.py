"""What a power-policy decision says: its action, reason code, urgency and bilingual text.

Pure. The wording of `maintenance.energy.policy`'s decisions, apart from the rules; every code is
listed in docs/power-policy.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from maintenance.energy.shedding import EnergyState, fmt


class Action(StrEnum):
    START = "start"
    WAIT = "wait"
    STOP = "stop"
    CONTINUE = "continue"


class Urgency(StrEnum):
    NORMAL = "normal"  # deadline far: normal floor, wait for the sunniest hour
    NEAR = "near"  # within urgent_before_s of the deadline: urgent floor
    OVERDUE = "overdue"  # deadline passed (or never done): urgent floor, reported as missed
    UNKNOWN = "unknown"  # clock not synchronised: deadlines cannot be judged


class ReasonCode(StrEnum):
    START = "start"
    START_URGENT = "start_urgent"
    START_SUN = "start_sun"
    CONTINUE = "continue"
    STOP_FLOOR = "stop_floor"
    STOP_NO_DATA = "stop_no_data"
    WAIT_DONE = "wait_done"
    WAIT_WINDOW = "wait_window"
    WAIT_NO_DATA = "wait_no_data"
    WAIT_FLOOR = "wait_floor"
    WAIT_PROJECTION = "wait_projection"
    WAIT_SUNNIER = "wait_sunnier"
    WAIT_CLOCK = "wait_clock"
    WAIT_RETRY = "wait_retry"  # given by the runner: backoff after a run that did not succeed
    WAIT_SHEDDING = "wait_shedding"  # given by the runner: load shedding holds every job


_TEXT: dict[ReasonCode, tuple[str, str]] = {
    ReasonCode.START: (
        "Démarrage : batterie à {value}, au-dessus du seuil de {floor} ({after} prévus après).",
        "Starting: battery at {value}, above the floor of {floor} ({after} expected after).",
    ),
    ReasonCode.START_URGENT: (
        "Démarrage urgent ({due}) : batterie à {value}, seuil abaissé à {floor}.",
        "Urgent start ({due}): battery at {value}, floor lowered to {floor}.",
    ),
    ReasonCode.START_SUN: (
        "Heure non synchronisée, mais plein soleil ({pv}) et batterie à {value} : démarrage.",
        "Clock not synchronised, but full sun ({pv}) and battery at {value}: starting.",
    ),
    ReasonCode.CONTINUE: (
        "En cours : batterie à {value}, au-dessus du seuil de {floor}.",
        "Running: battery at {value}, above the floor of {floor}.",
    ),
    ReasonCode.STOP_FLOOR: (
        "Arrêt : la batterie est descendue à {value}, seuil de {floor} atteint.",
        "Stopping: the battery fell to {value}, reaching the floor of {floor}.",
    ),
    ReasonCode.STOP_NO_DATA: (
        "Arrêt : plus de mesure de la batterie, l'énergie disponible est inconnue.",
        "Stopping: no battery reading any more, the energy available is unknown.",
    ),
    ReasonCode.WAIT_DONE: (
        "En attente : faite il y a {ago}, pas avant {wait} de plus.",
        "Waiting: done {ago} ago, not again for another {wait}.",
    ),
    ReasonCode.WAIT_WINDOW: (
        "En attente : hors des plages horaires permises ({windows}).",
        "Waiting: outside the allowed time windows ({windows}).",
    ),
    ReasonCode.WAIT_NO_DATA: (
        "En attente : aucune mesure récente de la batterie.",
        "Waiting: no recent battery reading.",
    ),
    ReasonCode.WAIT_FLOOR: (
        "En attente : batterie à {value}, sous le seuil de {floor}.",
        "Waiting: battery at {value}, below the floor of {floor}.",
    ),
    ReasonCode.WAIT_PROJECTION: (
        "En attente : batterie à {value}, mais {after} prévus après la tâche (seuil {floor}).",
        "Waiting: battery at {value}, but {after} expected after the job (floor {floor}).",
    ),
    ReasonCode.WAIT_SUNNIER: (
        "En attente de {hour} h, l'heure la plus ensoleillée des derniers jours.",
        "Waiting for {hour}:00, the sunniest hour of recent days.",
    ),
    ReasonCode.WAIT_CLOCK: (
        "En attente : heure non synchronisée et pas de plein soleil pour s'y fier.",
        "Waiting: clock not synchronised and no full sun to go by.",
    ),
    ReasonCode.WAIT_RETRY: (
        "En attente : la dernière exécution a échoué, nouvel essai dans {wait}.",
        "Waiting: the last run did not succeed, trying again in {wait}.",
    ),
    ReasonCode.WAIT_SHEDDING: (
        "En attente : délestage en cours (batterie trop faible), aucune tâche ne démarre.",
        "Waiting: load shedding holds (battery too low), no job starts.",
    ),
}
_MISSED = (" Échéance dépassée ({due}).", " Deadline missed ({due}).")


@dataclass(frozen=True, slots=True)
class Floor:
    metric: str  # "soc" (%) or "voltage" (V)
    value: float
    urgent: bool


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason_code: ReasonCode
    reason_fr: str
    reason_en: str
    floor_used: Floor | None
    urgency: Urgency
    overdue_s: float | None = None  # > 0 when the deadline is missed; None if never done


def _hours(seconds: float, lang: str) -> str:
    if seconds < 3600.0:
        return f"{seconds / 60.0:.0f} min"
    text = f"{seconds / 3600.0:.1f} h"
    return text.replace(".", ",") if lang == "fr" else text


@dataclass(frozen=True, slots=True)
class Say:
    """Builds a Decision with its French and English reasons from one call's context."""

    urgency: Urgency
    overdue_s: float | None
    due_at: float | None
    state: EnergyState
    floor: Floor | None

    def __call__(self, action: Action, code: ReasonCode, **values: object) -> Decision:
        fr, en = (self._text(code, lang, values) for lang in ("fr", "en"))
        return Decision(action, code, fr, en, self.floor, self.urgency, self.overdue_s)

    def _text(self, code: ReasonCode, lang: str, values: dict[str, object]) -> str:
        fr = lang == "fr"
        metric = self.floor.metric if self.floor else "soc"
        fields: dict[str, object] = {"due": self._due(lang), **values}
        if self.floor:
            fields["floor"] = fmt(metric, self.floor.value, lang)
        for key in ("value", "after"):
            v = values.get(key)
            if isinstance(v, tuple):
                fields[key] = fmt(v[0], v[1], lang)
            elif isinstance(v, float):
                fields[key] = fmt(metric, v, lang)
        for key in ("ago", "wait"):
            if isinstance(values.get(key), float):
                fields[key] = _hours(values[key], lang)  # type: ignore[arg-type]
        if isinstance(values.get("pv"), float):
            fields["pv"] = f"{values['pv']:.0f} W"
        text = _TEXT[code][0 if fr else 1].format(**fields)
        missed = self.urgency is Urgency.OVERDUE and self.overdue_s is not None
        if missed and code not in (ReasonCode.START_URGENT,):  # never done is not "missed"
            text += _MISSED[0 if fr else 1].format(**fields)
        return text

    def _due(self, lang: str) -> str:
        fr = lang == "fr"
        if self.urgency is Urgency.OVERDUE and self.overdue_s is None:
            return "pas encore faite depuis l'installation" if fr else "not done yet since install"
        if self.overdue_s is not None:
            late = _hours(self.overdue_s, lang)
            return f"en retard de {late}" if fr else f"{late} late"
        if self.due_at is not None:
            left = _hours(self.due_at - self.state.ts, lang)
            return f"échéance dans {left}" if fr else f"due in {left}"
        return "échéance inconnue" if fr else "deadline unknown"


def held(code: ReasonCode, urgency: Urgency, wait_s: float = 0.0) -> Decision:
    """A wait the runner imposes on top of `decide` (retry backoff, load shedding), worded
    and coded like the policy's own decisions."""
    fr, en = (_TEXT[code][i].format(wait=_hours(wait_s, lang)) for i, lang in enumerate(LANGS))
    return Decision(Action.WAIT, code, fr, en, None, urgency)


LANGS = ("fr", "en")
