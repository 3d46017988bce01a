"""The few words the LEDs' side says to people, in French (default) and English.

Kept here, as plain dicts, so they move in one piece into the gettext catalogue when the CLI's
texts do; the printed card (docs/fr/voyants.md) says the same, and a test keeps the two in step.
"""

from __future__ import annotations

from edged.indicators.patterns import OUTPUTS, Condition, Light, Pattern

MEANING = {
    "fr": {
        Condition.ALL_WELL: "Tout va bien.",
        Condition.SAVING_ENERGY: "Économie d'énergie : éteindre ce qui n'est pas essentiel.",
        Condition.JOB_RUNNING: "Sauvegarde en cours : ne pas débrancher.",
        Condition.TECHNICIAN: "Appeler le technicien.",
        Condition.CRITICAL: "Urgent : batterie sur le point de couper, agir maintenant.",
        Condition.STOPPED: "Surveillance arrêtée : appeler le technicien.",
    },
    "en": {
        Condition.ALL_WELL: "All is well.",
        Condition.SAVING_ENERGY: "Saving energy: switch off what is not essential.",
        Condition.JOB_RUNNING: "Backup running: do not unplug.",
        Condition.TECHNICIAN: "Call the technician.",
        Condition.CRITICAL: "Urgent: the battery is about to cut, act now.",
        Condition.STOPPED: "Monitoring stopped: call the technician.",
    },
}
ACKED_BY = "bouton"
"""`acked_by` of the alarms acknowledged with the push button (`edged alarms` shows it)."""


def meaning(condition: Condition, lang: str = "fr") -> str:
    return MEANING.get(lang, MEANING["fr"])[condition]


COLOURS = {
    "fr": {"green": "vert", "amber": "orange", "red": "rouge", "buzzer": "bip"},
    "en": {"green": "green", "amber": "amber", "red": "red", "buzzer": "beep"},
}
HOW = {
    "fr": {Light.ON: "fixe", Light.BLINK: "clignotant", Light.BEEP: ""},
    "en": {Light.ON: "steady", Light.BLINK: "blinking", Light.BEEP: ""},
}
ALL_DARK = {"fr": "tous éteints", "en": "all dark"}


def describe(shown: Pattern, lang: str = "fr") -> str:
    """ "rouge clignotant + bip": a pattern as the printed card names it."""
    parts = [
        f"{COLOURS[lang][output]} {HOW[lang][shown.light(output)]}".strip()
        for output in OUTPUTS
        if shown.light(output) is not Light.OFF
    ]
    return " + ".join(parts) or ALL_DARK[lang]
