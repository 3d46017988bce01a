"""`edged doctor`: what a technician on site checks first, one verdict and one hint per line.

Each check looks at the real thing, read-only: the config as the daemon would load it, each
serial port (present, ours to open, and free or held by edged: never by a second program), the
database (`PRAGMA quick_check`, schema, free space on its disk), the kernel's clock, the broker
(a real MQTT connection with the config's credentials and TLS, under its own client id and with
no last will, so the running daemon's session and `P/status` are untouched) and the service.
A check never raises: what it could not do is its verdict.

Words are French first (the technicians of the district), English on request; they live here as
(fr, en) pairs so they can move to the project's message catalogue later.
"""

from __future__ import annotations

import enum
import os
import shutil
import ssl
import stat
import subprocess
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edged import clock, live
from edged.config.loader import ConfigError, ConfigUnreadable, load
from edged.config.settings import Config
from telemetry import inspection
from telemetry.database import DatabaseError
from telemetry.lock import DatabaseLock
from telemetry.schema import SCHEMA_VERSION

BROKER_TIMEOUT = 10.0
DISK_FAIL_BYTES = 100 * 2**20
DISK_WARN_BYTES = 500 * 2**20


class Level(enum.IntEnum):
    OK = 0
    WARN = 1
    FAIL = 2


LABELS = {
    Level.OK: ("OK", "OK"),
    Level.WARN: ("ATTENTION", "WARNING"),
    Level.FAIL: ("ÉCHEC", "FAIL"),
}

TEXT: dict[str, tuple[str, str]] = {
    "config.ok": ("configuration valide ({n} appareil(s))", "configuration valid ({n} device(s))"),
    "config.bad": ("configuration invalide : {problem}", "configuration invalid: {problem}"),
    "config.unreadable": (
        "configuration illisible (groupe {group} requis)",
        "configuration unreadable (group {group} needed)",
    ),
    "config.hint": ("corriger puis : edged check-config", "fix it, then: edged check-config"),
    "port.missing": ("{dev} : port {port} absent", "{dev}: port {port} missing"),
    "port.missing.hint": (
        "câble branché ? ls -l /dev/edged/ /dev/serial/by-id/",
        "cable plugged in? ls -l /dev/edged/ /dev/serial/by-id/",
    ),
    "port.notchar": (
        "{dev} : {port} n'est pas un port série",
        "{dev}: {port} is not a serial port",
    ),
    "port.denied": (
        "{dev} : {port} interdit en lecture/écriture",
        "{dev}: {port} not readable/writable",
    ),
    "port.denied.hint": (
        "l'utilisateur doit être dans le groupe dialout (sudo usermod -aG dialout COMPTE)",
        "the user must be in group dialout (sudo usermod -aG dialout ACCOUNT)",
    ),
    "port.edged": (
        "{dev} : {port} présent, utilisé par edged",
        "{dev}: {port} present, used by edged",
    ),
    "port.free": ("{dev} : {port} présent et libre", "{dev}: {port} present and free"),
    "port.busy": (
        "{dev} : {port} pris par un autre programme",
        "{dev}: {port} held by another program",
    ),
    "port.busy.hint": (
        "fermer l'autre programme : sudo fuser -v {port}",
        "close the other program: sudo fuser -v {port}",
    ),
    "port.error": (
        "{dev} : {port} ne s'ouvre pas : {error}",
        "{dev}: {port} does not open: {error}",
    ),
    "db.none": ("pas encore de base de données ({path})", "no database yet ({path})"),
    "db.none.hint": ("le démon la crée au démarrage", "the daemon creates it when it starts"),
    "db.ok": (
        "base de données intègre, schéma v{version}, {size}",
        "database sound, schema v{version}, {size}",
    ),
    "db.damaged": ("base de données ABÎMÉE : {problem}", "database DAMAGED: {problem}"),
    "db.damaged.hint": (
        "redémarrer edged : il la met de côté et récupère ce qui se lit (edged support-bundle)",
        "restart edged: it moves it aside and salvages what reads (edged support-bundle)",
    ),
    "db.unreadable": ("base de données illisible : {error}", "database unreadable: {error}"),
    "db.schema": (
        "schéma v{version}, cette version d'edged lit v{ours}",
        "schema v{version}, this edged reads v{ours}",
    ),
    "db.schema.hint": ("démarrer edged une fois (migration)", "start edged once (migration)"),
    "disk": ("espace libre {free} sur {total} ({pct} %)", "free space {free} of {total} ({pct} %)"),
    "disk.hint": (
        "libérer de la place sur la carte SD (sauvegardes anciennes, journaux)",
        "free space on the SD card (old backups, logs)",
    ),
    "clock.ok": ("horloge synchronisée", "clock synchronised"),
    "clock.bad": ("horloge NON synchronisée", "clock NOT synchronised"),
    "clock.hint": (
        "réseau ou NTP absent : timedatectl ; les données restent datées « non synchronisé »",
        "no network or NTP: timedatectl; data stays marked 'not synchronised'",
    ),
    "mqtt.off": ("MQTT désactivé dans la configuration", "MQTT disabled in the configuration"),
    "mqtt.ok": (
        "serveur MQTT {host}:{port} joignable, accès accepté",
        "broker {host}:{port} reachable, access granted",
    ),
    "mqtt.refused": (
        "serveur MQTT {host}:{port} refuse l'accès : {reason}",
        "broker {host}:{port} refuses access: {reason}",
    ),
    "mqtt.refused.hint": (
        "vérifier username/password/tls dans [mqtt]",
        "check username/password/tls in [mqtt]",
    ),
    "mqtt.down": (
        "serveur MQTT {host}:{port} injoignable : {error}",
        "broker {host}:{port} unreachable: {error}",
    ),
    "mqtt.down.hint": (
        "liaison 3G/Internet ? les données attendent sur la carte, rien n'est perdu",
        "3G/Internet link? data waits on the card, nothing is lost",
    ),
    "service.active": ("service edged actif", "edged service active"),
    "service.inactive": ("service edged : {state}", "edged service: {state}"),
    "service.hint": (
        "sudo systemctl restart edged ; journalctl -u edged -n 50",
        "sudo systemctl restart edged; journalctl -u edged -n 50",
    ),
    "daemon.running": ("démon edged en marche", "edged daemon running"),
    "daemon.stopped": ("démon edged arrêté", "edged daemon stopped"),
}


def words(key: str, lang: str, **values: object) -> str:
    fr, en = TEXT[key]
    return (fr if lang == "fr" else en).format(**values)


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report: what was checked, its verdict, what to do about it."""

    topic: str
    level: Level
    key: str
    values: dict[str, object]
    hint: str | None = None

    def text(self, lang: str) -> str:
        return words(self.key, lang, **self.values)

    def hint_text(self, lang: str) -> str:
        return words(self.hint, lang, **self.values) if self.hint else ""

    def as_dict(self, lang: str) -> dict[str, object]:
        return {
            "topic": self.topic,
            "level": self.level.name,
            "text": self.text(lang),
            "hint": self.hint_text(lang),
        }


def size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def check_config(path: str) -> tuple[Config | None, Check]:
    try:
        config = load(path)
    except ConfigUnreadable as exc:
        return None, Check("config", Level.FAIL, "config.unreadable", {"group": exc.group})
    except ConfigError as exc:
        problem = exc.problems[0].line(exc.source) if exc.problems else str(exc)
        more = f" (+{len(exc.problems) - 1})" if len(exc.problems) > 1 else ""
        values = {"problem": problem + more}
        return None, Check("config", Level.FAIL, "config.bad", values, "config.hint")
    return config, Check("config", Level.OK, "config.ok", {"n": len(config.devices)})


def daemon_running(config: Config) -> bool:
    """The database's lock held by a live process (telemetry.lock); where that cannot be told,
    a fresh live view (which outlives a stopped daemon by up to `live.FRESH_FOR` seconds)."""
    held = DatabaseLock(config.storage.path).held()
    if held is not None:
        return held
    return any(live.read(path) is not None for path in live.candidates(config))


def check_ports(config: Config, running: bool) -> list[Check]:
    """Each serial device's port: present, a character device, ours to open, and free or held
    by edged. The exclusive open (flock, as the drivers take it) tells a second program apart."""
    import serial  # pyserial: only this check needs it

    checks = []
    for device in config.devices:
        port = device.options.get("port")
        if not isinstance(port, str) or not port.startswith("/"):
            continue  # Modbus-TCP: its port is a number; the broker-style check is its polls
        values = {"dev": device.id, "port": port}
        path = Path(port)
        if not path.exists():
            checks.append(Check("port", Level.FAIL, "port.missing", values, "port.missing.hint"))
        elif not stat.S_ISCHR(path.stat().st_mode):
            checks.append(Check("port", Level.FAIL, "port.notchar", values, "port.missing.hint"))
        elif not os.access(path, os.R_OK | os.W_OK):
            checks.append(Check("port", Level.FAIL, "port.denied", values, "port.denied.hint"))
        else:
            try:
                serial.Serial(port, exclusive=True, timeout=0).close()
                checks.append(Check("port", Level.OK, "port.free", values))
            except serial.SerialException as exc:
                if "lock" not in str(exc).lower():
                    error = {**values, "error": str(exc)}
                    checks.append(Check("port", Level.FAIL, "port.error", error, "port.busy.hint"))
                elif running:
                    checks.append(Check("port", Level.OK, "port.edged", values))
                else:
                    checks.append(Check("port", Level.FAIL, "port.busy", values, "port.busy.hint"))
    return checks


def check_database(config: Config) -> list[Check]:
    path = Path(config.storage.path)
    checks = [check_disk(path.parent if path.parent.exists() else Path("/"))]
    if not path.exists():
        return [Check("database", Level.WARN, "db.none", {"path": path}, "db.none.hint"), *checks]
    try:
        version, first = inspection.integrity(path)
    except DatabaseError as exc:  # "file is not a database", "malformed": damaged too
        damaged = "malformed" in str(exc) or "not a database" in str(exc)
        key = "db.damaged" if damaged else "db.unreadable"
        values = {"problem": str(exc), "error": str(exc)}
        return [Check("database", Level.FAIL, key, values, "db.damaged.hint"), *checks]
    if first != "ok":
        damaged = Check("database", Level.FAIL, "db.damaged", {"problem": first}, "db.damaged.hint")
        return [damaged, *checks]
    if version != SCHEMA_VERSION:
        values = {"version": version, "ours": SCHEMA_VERSION}
        return [Check("database", Level.WARN, "db.schema", values, "db.schema.hint"), *checks]
    values = {"version": version, "size": size(path.stat().st_size)}
    return [Check("database", Level.OK, "db.ok", values), *checks]


def check_disk(folder: Path) -> Check:
    usage = shutil.disk_usage(folder)
    pct = round(100 * usage.free / usage.total) if usage.total else 0
    values = {"free": size(usage.free), "total": size(usage.total), "pct": pct}
    if usage.free < DISK_FAIL_BYTES:
        level = Level.FAIL
    elif usage.free < DISK_WARN_BYTES or pct < 10:
        level = Level.WARN
    else:
        level = Level.OK
    return Check("disk", level, "disk", values, None if level is Level.OK else "disk.hint")


def check_clock(synced: Callable[[], bool] = clock.kernel_says_synced) -> Check:
    if synced():
        return Check("clock", Level.OK, "clock.ok", {})
    return Check("clock", Level.WARN, "clock.bad", {}, "clock.hint")


def check_broker(config: Config, timeout: float = BROKER_TIMEOUT) -> Check:
    """A real connection with the site's credentials and TLS, under its own client id (the
    daemon's would be kicked off) and with no last will (`offline` must not be published)."""
    from telemetry.mqtt_client import connect_as  # paho only when the broker is checked

    cfg = config.mqtt
    values: dict[str, object] = {"host": cfg.host, "port": cfg.port}
    if not cfg.enabled:
        return Check("mqtt", Level.OK, "mqtt.off", values)
    answered, result = threading.Event(), {}

    def on_connect(_client, _userdata, _flags, reason_code, _properties) -> None:
        result["reason"] = reason_code
        answered.set()

    try:
        client = connect_as(config, f"edged-doctor-{config.site.id}-{uuid.uuid4().hex[:6]}")
    except (OSError, ValueError, ssl.SSLError) as exc:
        return Check("mqtt", Level.FAIL, "mqtt.down", {**values, "error": exc}, "mqtt.down.hint")
    client.on_connect = on_connect
    try:
        client.connect(cfg.host, cfg.port, keepalive=30)
        client.loop_start()
        got = answered.wait(timeout)
    except (OSError, ValueError, ssl.SSLError) as exc:
        return Check("mqtt", Level.FAIL, "mqtt.down", {**values, "error": exc}, "mqtt.down.hint")
    finally:
        client.loop_stop()
        client.disconnect()
    if not got:
        error = f"no answer in {timeout:g} s"
        return Check("mqtt", Level.FAIL, "mqtt.down", {**values, "error": error}, "mqtt.down.hint")
    reason = result["reason"]
    if reason.is_failure:
        return Check(
            "mqtt", Level.FAIL, "mqtt.refused", {**values, "reason": reason}, "mqtt.refused.hint"
        )
    return Check("mqtt", Level.OK, "mqtt.ok", values)


def check_service(config: Config, running: bool) -> Check:
    """systemd's word where it runs the machine; the live view's freshness otherwise."""
    systemctl = shutil.which("systemctl")
    if systemctl and Path("/run/systemd/system").is_dir():
        try:
            out = subprocess.run(
                [systemctl, "is-active", "edged"], capture_output=True, text=True, timeout=30
            )
            state = out.stdout.strip() or "unknown"
        except (OSError, subprocess.TimeoutExpired) as exc:
            state = str(exc)
        if state == "active":
            return Check("service", Level.OK, "service.active", {})
        return Check("service", Level.FAIL, "service.inactive", {"state": state}, "service.hint")
    if running:
        return Check("service", Level.OK, "daemon.running", {})
    return Check("service", Level.FAIL, "daemon.stopped", {}, "service.hint")


def examine(config_path: str) -> list[Check]:
    """Every check, in the order a technician would go: config first (nothing else without it)."""
    config, first = check_config(config_path)
    if config is None:
        return [first]
    running = daemon_running(config)
    return [
        first,
        check_service(config, running),
        *check_ports(config, running),
        *check_database(config),
        check_clock(),
        check_broker(config),
    ]


def worst(checks: list[Check]) -> Level:
    return max((c.level for c in checks), default=Level.OK)


TITLE = ("edged doctor : vérifications", "edged doctor: checks")
VERDICT = {
    Level.OK: ("Tout va bien.", "All good."),
    Level.WARN: ("À surveiller (voir ATTENTION).", "Needs attention (see WARNING)."),
    Level.FAIL: ("Problème à corriger (voir ÉCHEC).", "Problem to fix (see FAIL)."),
}


def render(checks: list[Check], lang: str) -> str:
    pick = 0 if lang == "fr" else 1
    width = max(len(label[pick]) for label in LABELS.values())
    lines = [TITLE[pick]]
    for check in checks:
        label = LABELS[check.level][pick]
        lines.append(f"[{label:<{width}}] {check.text(lang)}")
        if check.hint:
            lines.append(f"{'':<{width + 3}}→ {check.hint_text(lang)}")
    lines.append(VERDICT[worst(checks)][pick])
    return "\n".join(lines) + "\n"
