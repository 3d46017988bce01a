"""Words shown to people: French first (clinic staff), English for technicians who prefer it."""

from __future__ import annotations

import os

LANGS = ("fr", "en")

_TEXT: dict[str, tuple[str, str]] = {
    # key: (fr, en)
    "title": ("État d'edged", "edged status"),
    "site": ("Site", "Site"),
    "database": ("Base de données", "Database"),
    "outbox": ("En attente d'envoi", "Waiting to be sent"),
    "records": ("enregistrements", "records"),
    "config_unreadable": (
        "lecture refusée : seuls root et le groupe {group} peuvent lire la configuration. "
        "Demandez à l'administrateur : sudo usermod -aG {group} VOTRE_COMPTE, puis "
        "reconnectez-vous (ou lancez la commande avec sudo).",
        "permission denied: only root and the group {group} may read the configuration. Ask "
        "the administrator: sudo usermod -aG {group} YOUR_ACCOUNT, then log in again (or run "
        "the command with sudo).",
    ),
    "daemon_running": ("Le démon edged tourne.", "The edged daemon is running."),
    "daemon_stopped": (
        "ATTENTION : le démon edged ne tourne pas (valeurs enregistrées, peut-être anciennes).",
        "WARNING: the edged daemon is not running (stored values, possibly old).",
    ),
    "mqtt_up": ("Liaison vers le serveur : connectée.", "Link to the server: connected."),
    "mqtt_down": (
        "Liaison vers le serveur : coupée (les données attendent, rien n'est perdu).",
        "Link to the server: down (data waits, nothing is lost).",
    ),
    "no_devices": ("Aucun appareil vu pour l'instant.", "No device seen yet."),
    "no_db": (
        "Aucune donnée : le démon edged n'a encore rien enregistré ({path}).",
        "No data: the edged daemon has not stored anything yet ({path}).",
    ),
    "device": ("Appareil", "Device"),
    "state.ok": ("EN LIGNE", "ONLINE"),
    "state.stale": ("DONNÉES ANCIENNES", "STALE"),
    "state.offline": ("HORS LIGNE", "OFFLINE"),
    "seen_ago": ("vu il y a {ago}", "seen {ago} ago"),
    "never_seen": ("jamais vu", "never seen"),
    "clock_unsynced": ("(heure non synchronisée)", "(clock not synchronised)"),
    "frames": ("trames reçues {ok}, rejetées {bad}", "frames accepted {ok}, rejected {bad}"),
    "serial": ("n°", "serial"),
    "firmware": ("version", "firmware"),
    # alarms (edged alarms, edged status)
    "alarms_active": ("Alarmes actives ({n}) :", "Active alarms ({n}):"),
    "alarms_none": ("Aucune alarme active.", "No active alarm."),
    "alarms_history": ("Historique :", "History:"),
    "severity.critical": ("CRITIQUE", "CRITICAL"),
    "severity.warning": ("attention", "warning"),
    "alarm_since": ("depuis {ago}", "for {ago}"),
    "alarm_cleared": (
        "terminée il y a {ago} (durée {lasted})",
        "cleared {ago} ago (lasted {lasted})",
    ),
    "alarm_acked": ("[acquittée par {by}]", "[acknowledged by {by}]"),
    "ack_acked": ("Alarme #{id} acquittée par {by}.", "Alarm #{id} acknowledged by {by}."),
    "ack_already": (
        "L'alarme #{id} était déjà acquittée.",
        "Alarm #{id} was already acknowledged.",
    ),
    "ack_unknown": ("Pas d'alarme #{id}.", "No alarm #{id}."),
    # equipment (edged status)
    "equipment": ("Équipements :", "Equipment:"),
    "pibox": ("PiBox", "PiBox"),
    "pibox_line": ("disque {disk} %, processeur {temp}", "disk {disk} %, CPU {temp}"),
    "undervoltage_now": ("SOUS-TENSION MAINTENANT", "UNDER-VOLTAGE NOW"),
    "undervoltage_seen": ("sous-tension vue depuis le démarrage", "under-voltage seen since boot"),
    "check_ok": ("répond", "answering"),
    "check_failed": ("NE RÉPOND PAS", "NOT ANSWERING"),
    "check_unknown": ("inconnu", "unknown"),
    "item_seen": ("vu il y a {ago}", "seen {ago} ago"),
    "item_now": ("présent", "present"),
    "link_line": (
        "Liaison : {state}, données ce mois {used}",
        "Link: {state}, data this month {used}",
    ),
    "link_up": ("connectée", "connected"),
    "link_down": ("coupée", "down"),
    "health_age": ("(relevé il y a {ago})", "(read {ago} ago)"),
    "db_locked": (
        "edged ne démarre pas : la base {path} est déjà utilisée par un autre démon (pid {pid}).",
        "edged not started: database {path} is already used by another daemon (pid {pid}).",
    ),
    "live_locked": (
        "edged ne démarre pas : le dossier de la vue en direct {path} (et des demandes « backup"
        " --now ») est déjà celui d'un autre démon (pid {pid}). Donnez à chacun son [site] id ou"
        " son [storage] live_path.",
        "edged not started: the live view folder {path} (and its `backup --now` requests) is"
        " already another daemon's (pid {pid}). Give each its own [site] id or [storage]"
        " live_path.",
    ),
}

METRIC_LABELS: dict[str, tuple[str, str]] = {
    "battery_voltage": ("Tension batterie", "Battery voltage"),
    "battery_current": ("Courant batterie", "Battery current"),
    "battery_power": ("Puissance batterie", "Battery power"),
    "battery_soc": ("Charge batterie", "Battery charge"),
    "battery_temperature": ("Température batterie", "Battery temperature"),
    "battery_consumed_ah": ("Ah consommés", "Consumed Ah"),
    "battery_time_to_go": ("Autonomie restante", "Time to go"),
    "pv_voltage": ("Tension panneaux", "Panel voltage"),
    "pv_power": ("Puissance panneaux", "Panel power"),
    "pv_current": ("Courant panneaux", "Panel current"),
    "load_current": ("Courant sortie charge", "Load current"),
    "load_on": ("Sortie charge active", "Load output on"),
    "yield_today": ("Production aujourd'hui", "Yield today"),
    "yield_yesterday": ("Production hier", "Yield yesterday"),
    "yield_total": ("Production totale", "Yield total"),
    "max_power_today": ("Puissance max aujourd'hui", "Max power today"),
    "charger_state": ("État du chargeur", "Charger state"),
    "charger_error": ("Code d'erreur", "Error code"),
    "charger_error_name": ("Erreur", "Error"),
    "alarm_on": ("Alarme", "Alarm"),
    "alarm_reason": ("Alarmes", "Alarms"),
}

CHARGER_STATES_FR = {
    "off": "arrêt",
    "fault": "défaut",
    "bulk": "charge rapide",
    "absorption": "absorption",
    "float": "entretien (float)",
    "storage": "stockage",
    "equalize": "égalisation",
    "external_control": "contrôle externe",
    "starting_up": "démarrage",
}


def language(cli_value: str | None) -> str:
    lang = cli_value or os.environ.get("EDGED_LANG", "fr")
    return lang if lang in LANGS else "fr"


def t(key: str, lang: str, **kwargs: object) -> str:
    fr, en = _TEXT[key]
    return (fr if lang == "fr" else en).format(**kwargs)


def metric_label(name: str, lang: str) -> str:
    pair = METRIC_LABELS.get(name)
    if pair is None:
        return name
    return pair[0] if lang == "fr" else pair[1]


def text_value(name: str, value: str, lang: str) -> str:
    if lang == "fr" and name == "charger_state":
        return CHARGER_STATES_FR.get(value, value)
    if value == "none":
        return "aucune" if lang == "fr" else "none"
    return value


def yes_no(value: object, lang: str) -> str:
    yes = bool(value)
    if lang == "fr":
        return "oui" if yes else "non"
    return "yes" if yes else "no"


def number(value: float, lang: str, digits: int = 3) -> str:
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return text.replace(".", ",") if lang == "fr" else text


def duration(seconds: float, lang: str) -> str:
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} {'j' if lang == 'fr' else 'd'}"
