"""Words shown to people: French first (clinic staff), English for technicians who prefer it.

Every message goes through the gettext catalogue (`edged.cli.catalogue`): the source holds the
English msgid, `edged/locale/fr/LC_MESSAGES/edged.po` the French. Numbers, dates and durations
go through Babel with the `fr_ML` locale (Mali: "31,5 °C", "4 déc. à 13 h 54", "10 h",
"2 jours"), `en` for English; Babel is imported by the first of them, so `edged run`, which
formats none, never holds it. Pure apart from reading the catalogue once per language.
"""

from __future__ import annotations

import datetime as dt
import errno
import os

from edged.cli.catalogue import translations
from edged.config.settings import Config

LANGS = ("fr", "en")
LOCALES = {"fr": "fr_ML", "en": "en"}


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "translated later")
    """Marks a table entry for the catalogue; `tr` translates it where it is shown."""
    return message


_TEXT: dict[str, str] = {  # key: English msgid (the French is in the catalogue)
    "title": N_("edged status"),
    "site": N_("Site"),
    "database": N_("Database"),
    "outbox": N_("Waiting to be sent"),
    "records": N_("records"),
    "config_unreadable": N_(
        "permission denied: only root and the group {group} may read the configuration. Ask "
        "the administrator: sudo usermod -aG {group} YOUR_ACCOUNT, then log in again (or run "
        "the command with sudo)."
    ),
    "daemon_running": N_("The edged daemon is running."),
    "daemon_stopped": N_("WARNING: the edged daemon is not running (stored values, possibly old)."),
    "mqtt_up": N_("Link to the server: connected."),
    "mqtt_down": N_("Link to the server: down (data waits, nothing is lost)."),
    "no_devices": N_("No device seen yet."),
    "no_db": N_("No data: the edged daemon has not stored anything yet ({path})."),
    "device": N_("Device"),
    "state.ok": N_("ONLINE"),
    "state.stale": N_("STALE"),
    "state.offline": N_("OFFLINE"),
    "seen_ago": N_("seen {ago} ago"),
    "never_seen": N_("never seen"),
    "clock_unsynced": N_("(clock not synchronised)"),
    "frames": N_("frames accepted {ok}, rejected {bad}"),
    "serial": N_("serial"),
    "firmware": N_("firmware"),
    "alarms_active": N_("Active alarms ({n}):"),
    "alarms_none": N_("No active alarm."),
    "alarms_history": N_("History:"),
    "severity.critical": N_("CRITICAL"),
    "severity.warning": N_("warning"),
    "alarm_since": N_("for {ago}"),
    "alarm_cleared": N_("cleared {ago} ago (lasted {lasted})"),
    "alarm_acked": N_("[acknowledged by {by}]"),
    "ack_acked": N_("Alarm #{id} acknowledged by {by}."),
    "ack_already": N_("Alarm #{id} was already acknowledged."),
    "ack_unknown": N_("No alarm #{id}."),
    "equipment": N_("Equipment:"),
    "pibox": N_("PiBox"),
    "pibox_line": N_("disk {disk} %, CPU {temp}"),
    "undervoltage_now": N_("UNDER-VOLTAGE NOW"),
    "undervoltage_seen": N_("under-voltage seen since boot"),
    "check_ok": N_("answering"),
    "check_failed": N_("NOT ANSWERING"),
    "check_unknown": N_("unknown"),
    "item_seen": N_("seen {ago} ago"),
    "item_now": N_("present"),
    "link_line": N_("Link: {state}, data this month {used}"),
    "link_up": N_("connected"),
    "link_down": N_("down"),
    "health_age": N_("(read {ago} ago)"),
    "db_locked": N_(
        "edged not started: database {path} is already used by another daemon (pid {pid})."
    ),
    "live_locked": N_(
        "edged not started: the live view folder {path} (and its `backup --now` requests) is"
        " already another daemon's (pid {pid}). Give each its own [site] id or [storage]"
        " live_path."
    ),
}
METRIC_LABELS: dict[str, str] = {
    "battery_voltage": N_("Battery voltage"),
    "battery_current": N_("Battery current"),
    "battery_power": N_("Battery power"),
    "battery_soc": N_("Battery charge"),
    "battery_temperature": N_("Battery temperature"),
    "battery_consumed_ah": N_("Consumed Ah"),
    "battery_time_to_go": N_("Time to go"),
    "pv_voltage": N_("Panel voltage"),
    "pv_power": N_("Panel power"),
    "pv_current": N_("Panel current"),
    "load_current": N_("Load current"),
    "load_on": N_("Load output on"),
    "yield_today": N_("Yield today"),
    "yield_yesterday": N_("Yield yesterday"),
    "yield_total": N_("Yield total"),
    "max_power_today": N_("Max power today"),
    "charger_state": N_("Charger state"),
    "charger_error": N_("Error code"),
    "charger_error_name": N_("Error"),
    "alarm_on": N_("Alarm"),
    "alarm_reason": N_("Alarms"),
}

CHARGER_STATES: dict[str, str] = {
    "off": N_("off"),
    "low_power": N_("low power"),
    "fault": N_("fault"),
    "bulk": N_("bulk charge"),
    "absorption": N_("absorption"),
    "float": N_("float"),
    "storage": N_("storage"),
    "equalize": N_("equalize"),
    "inverting": N_("inverting"),
    "external_control": N_("external control"),
    "starting_up": N_("starting up"),
}


WORDS = (N_("none"), N_("yes"), N_("no"), N_(":"), N_("d MMM 'at' HH:mm"))
"""Words used through a variable: here for the catalogue (":" is " :" in French)."""


def language(cli_value: str | None, config: Config | None = None) -> str:
    """`--lang`, else $EDGED_LANG, else `[site] language`, else French.

    The locale ($LANG, $LC_ALL) is not asked: Raspberry Pi OS ships `LANG=en_GB.UTF-8`, so a
    PiBox would speak English to the nurses it is for. French is the product's language; English
    is a technician's choice, made explicitly."""
    if cli_value in LANGS:
        return cli_value
    env = os.environ.get("EDGED_LANG", "").strip().lower()[:2]
    if env in LANGS:
        return env
    configured = config.site.language if config is not None else ""
    return configured if configured in LANGS else "fr"


def tr(message: str, lang: str, /, **values: object) -> str:
    """`message` (an English msgid) in `lang`, with `values` put in."""
    text = translations(lang).gettext(message) if lang != "en" else message
    return text.format(**values) if values else text


def ntr(singular: str, plural: str, n: int, lang: str, /, **values: object) -> str:
    """The singular or plural form for `n` ("1 alarme", "2 alarmes"); `{n}` is put in."""
    text = translations(lang).ngettext(singular, plural, n)
    return text.format(n=n, **values)


def t(key: str, lang: str, /, **values: object) -> str:
    """A message of the `_TEXT` table by its key."""
    return tr(_TEXT[key], lang, **values)


def metric_label(name: str, lang: str) -> str:
    label = METRIC_LABELS.get(name)
    return name if label is None else tr(label, lang)


def text_value(name: str, value: str, lang: str) -> str:
    if name == "charger_state" and value in CHARGER_STATES:
        return tr(CHARGER_STATES[value], lang)
    if value == "none":
        return tr("none", lang)
    return value


def yes_no(value: object, lang: str) -> str:
    return tr("yes", lang) if value else tr("no", lang)


def number(value: float, lang: str, digits: int = 3) -> str:
    """`31,5` in French, `31.5` in English; at most `digits` decimals, no trailing zeros."""
    from babel.numbers import format_decimal  # Babel (~3 MB) only where a number is shown

    if isinstance(value, float):
        value = round(value, digits)
    return format_decimal(value, format="#,##0.###", locale=LOCALES[lang])


def duration(seconds: float, lang: str) -> str:
    """ "45 s", "10 min", "10 h", "2 jours": the largest unit of which there are 1.5, in words
    for days (their plural), short otherwise."""
    from babel.dates import format_timedelta

    seconds = max(0.0, float(seconds))
    width = "long" if seconds >= 1.5 * 86400 else "short"
    delta = dt.timedelta(seconds=round(seconds))
    text = format_timedelta(delta, threshold=1.5, format=width, locale=LOCALES[lang])
    return text.replace("\u202f", " ").replace("\xa0", " ")


def when(ts: float, lang: str) -> str:
    """ "4 déc. à 13 h 54" / "4 Dec at 13:54" (UTC, which is Mali's time)."""
    from babel.dates import format_datetime

    moment = dt.datetime.fromtimestamp(ts, dt.UTC)
    return format_datetime(moment, tr("d MMM 'at' HH:mm", lang), locale=LOCALES[lang])


OS_REASONS = {
    errno.ENOENT: N_("no such file or folder"),
    errno.EACCES: N_("permission denied"),
    errno.EISDIR: N_("this is a folder"),
    errno.ENOSPC: N_("the disk is full"),
}


def os_reason(exc: Exception, lang: str) -> str:
    """Why a file could not be read or written, in `lang` rather than Python's English
    (`[Errno 2] No such file…`): the common causes in words, the errno's name otherwise."""
    if isinstance(exc, UnicodeDecodeError):
        return tr("not UTF-8 text", lang)
    code = getattr(exc, "errno", None)
    if code in OS_REASONS:
        return tr(OS_REASONS[code], lang)
    return errno.errorcode.get(code, type(exc).__name__) if code else type(exc).__name__
