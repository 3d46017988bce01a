"""The dashboard's words, French (the default: ANTIM's technicians) and English.

One table, one key per text; a key missing in one language is a test failure
(tests/fleet/test_web_units.py), never an English word on a French page.
"""

from __future__ import annotations

from datetime import UTC, datetime

TEXTS: dict[str, tuple[str, str]] = {
    # key: (fr, en)
    "app": ("Parc ANTIM", "ANTIM fleet"),
    "overview": ("Parc", "Fleet"),
    "alarms": ("Alarmes", "Alarms"),
    "logout": ("Déconnexion", "Log out"),
    "login": ("Connexion", "Log in"),
    "username": ("Identifiant", "Username"),
    "password": ("Mot de passe", "Password"),
    "login_failed": ("Identifiant ou mot de passe incorrect.", "Wrong username or password."),
    "region": ("Région", "Region"),
    "all_regions": ("Toutes les régions", "All regions"),
    "filter": ("Filtrer", "Filter"),
    "site": ("Site", "Site"),
    "state": ("État", "State"),
    "since": ("depuis", "since"),
    "online": ("en ligne", "online"),
    "offline": ("hors ligne", "offline"),
    "silent": ("muet", "silent"),
    "unknown": ("inconnu", "unknown"),
    "soc": ("Batterie (SOC)", "Battery (SOC)"),
    "voltage": ("Tension", "Voltage"),
    "current": ("Courant", "Current"),
    "pv_today": ("PV aujourd'hui / habituel", "PV today / usual"),
    "pv_power": ("Puissance PV", "PV power"),
    "load_power": ("Consommation", "Load"),
    "backup": ("Dernière sauvegarde", "Last backup"),
    "completeness": ("Données 7 j", "Data 7 d"),
    "uplink": ("Forfait utilisé", "Data plan used"),
    "sites_count": ("sites", "sites"),
    "no_sites": ("Aucun site.", "No sites."),
    "ago": ("il y a {}", "{} ago"),
    "devices": ("Appareils", "Devices"),
    "device": ("Appareil", "Device"),
    "last_record": ("Dernier enregistrement", "Last record"),
    "health": ("Santé", "Health"),
    "component": ("Composant", "Component"),
    "ok": ("OK", "OK"),
    "fault": ("défaut", "fault"),
    "stale_health": ("pas de relevé récent", "no recent reading"),
    "history": ("Historique des alarmes", "Alarm history"),
    "raised": ("déclenchée", "raised"),
    "cleared": ("levée", "cleared"),
    "jobs": ("Tâches et sauvegardes", "Jobs and backups"),
    "job": ("Tâche", "Job"),
    "outcome": ("Résultat", "Outcome"),
    "started": ("Début", "Started"),
    "duration": ("Durée", "Duration"),
    "reports": ("Rapports mensuels", "Monthly reports"),
    "month": ("Mois", "Month"),
    "summary": ("Notes", "Notes"),
    "rep_completeness": ("Données", "Data"),
    "rep_pv": ("PV kWh", "PV kWh"),
    "rep_load": ("Conso. kWh", "Load kWh"),
    "rep_days_not_full": ("Jours sans charge pleine", "Days not full"),
    "rep_efc": ("Cycles batterie", "Battery cycles"),
    "rep_soc_min": ("SOC min", "Min SOC"),
    "rep_alarms": ("Alarmes", "Alarms"),
    "rep_open": ("{} ouvertes", "{} open"),
    "rep_contribution": ("Contribution", "Contribution"),
    "rep_cost_recovery": ("Recouvrement des coûts", "Cost recovery"),
    "charts": ("Courbes", "Charts"),
    "time_utc": ("Heure (UTC)", "Time (UTC)"),
    "days7": ("7 jours", "7 days"),
    "days30": ("30 jours", "30 days"),
    "gaps_note": (
        "Un trou dans une courbe est une période sans données reçues ; il se comble quand "
        "l'historique du site arrive.",
        "A gap in a chart is a period with no data received; it fills when the site's "
        "history arrives.",
    ),
    "needs_js": ("Les courbes demandent JavaScript.", "Charts need JavaScript."),
    "shedding": ("Délestage", "Load shedding"),
    "severity": ("Gravité", "Severity"),
    "critical": ("critique", "critical"),
    "warning": ("avertissement", "warning"),
    "alarm": ("Alarme", "Alarm"),
    "active": ("active", "active"),
    "ack": ("Acquitter", "Acknowledge"),
    "ack_comment": ("Commentaire", "Comment"),
    "acked_by": ("acquittée par {} {}", "acknowledged by {} {}"),
    "ack_pending": (
        "en attente de confirmation du site",
        "waiting for the site to confirm",
    ),
    "ack_confirmed": ("confirmée par le site", "confirmed by the site"),
    "ack_refused": ("refusée par le site", "refused by the site"),
    "ack_local": ("enregistrée au centre", "recorded at the centre"),
    "ack_not_sent": ("commande non envoyée : {}", "command not sent: {}"),
    "ack_done": ("Alarme acquittée.", "Alarm acknowledged."),
    "live_done": (
        "Valeurs en direct demandées au site.",
        "Live values asked of the site.",
    ),
    "live_failed": (
        "Demande non envoyée : courtier injoignable.",
        "Request not sent: broker unreachable.",
    ),
    "live_ask": ("En direct", "Live"),
    "ack_already": ("Déjà acquittée.", "Already acknowledged."),
    "unacked_only": ("Actives non acquittées", "Active, not acknowledged"),
    "all_alarms": ("Toutes", "All"),
    "counts_30d": (
        "30 derniers jours : {} alarmes déclenchées dont {} critiques, sur {} sites ; "
        "{} actives dont {} non acquittées.",
        "Last 30 days: {} alarms raised, {} critical, on {} sites; {} active, {} not acknowledged.",
    ),
    "no_alarms": ("Aucune alarme.", "No alarms."),
    "time_to_clear": (
        "Délai de résolution (alarmes déclenchées ces 30 jours)",
        "Time to clear (alarms raised in the last 30 days)",
    ),
    "ttc_raised": ("déclenchées", "raised"),
    "ttc_cleared": ("levées", "cleared"),
    "ttc_median": ("délai médian", "median time"),
    "ttc_max": ("le plus long", "longest"),
    "ttc_open": ("encore actives", "still active"),
    "no_region": ("(sans région)", "(no region)"),
    "ttv_visited": ("avec visite", "visited"),
    "ttv_median": ("délai médian de visite", "median time to visit"),
    "days_n": ("{} j", "{} d"),
    "visited": ("visite le {} ({})", "visited on {} ({})"),
    "log_visit": ("Noter une visite", "Log a visit"),
    "visit_note": ("Ce qui a été fait", "What was done"),
    "save": ("Enregistrer", "Save"),
    "visit_done": ("Visite enregistrée.", "Visit logged."),
    "origin_centre": ("(centre)", "(centre)"),
    "not_found": ("Page introuvable.", "Page not found."),
    "bad_request": ("Requête refusée.", "Request refused."),
    "csrf": (
        "Formulaire expiré ou invalide : rechargez la page.",
        "Form expired or invalid: reload the page.",
    ),
    "too_large": ("Requête trop grande.", "Request too large."),
    "server_error": ("Erreur du serveur.", "Server error."),
    "back": ("Retour", "Back"),
    "language": ("English", "Français"),
    "none": ("—", "—"),
    "name": ("Nom", "Name"),
    "updated": ("Mis à jour", "Updated"),
}


def text(key: str, lang: str, *args: object) -> str:
    fr, en = TEXTS[key]
    value = en if lang == "en" else fr
    return value.format(*args) if args else value


def duration(seconds: float, lang: str) -> str:
    """A short human duration: 45 s, 12 min, 3 h, 5 j / 5 d."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} {'d' if lang == 'en' else 'j'}"


def ago(moment: datetime | None, lang: str, now: datetime | None = None) -> str:
    if moment is None:
        return TEXTS["none"][0]
    now = now or datetime.now(UTC)
    return text("ago", lang, duration((now - moment).total_seconds(), lang))
