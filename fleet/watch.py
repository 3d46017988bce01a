"""The centre's own alarms: "no data" from a site, or from one device of a site that still talks.

A site that died cannot raise its own alarm, so the centre raises it, into the same `alarms` and
`alarm_history` tables as the sites' alarms (`origin = 'centre'`), and the overview and the alarm
console show both alike. Times are the centre's reception times (`sites.last_seen`,
`site_latest.received_at`), never the site's clock, which may be unsynchronised.

- `centre_no_data.site` (critical): nothing at all received from the site for `site_after`
  seconds (default 240 s: four missed one-minute records); cleared on the next message.
- `centre_no_data.{device}` (warning): the site still talks, but no newer record of that device
  arrived for `device_after` seconds (default 600 s); cleared by its next record.

`sweep()` runs every `WatchSettings.interval_s` (30 s) in the web process, so a silent site is on
the overview at most `site_after + interval_s` (270 s) after its last message. Two web processes
may sweep: an advisory lock lets one do it at a time, and every write is idempotent.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

import psycopg

log = logging.getLogger(__name__)

WATCH_LOCK = 0x6564_6765_7761_7463  # "edgewatc"


@dataclass(frozen=True)
class WatchSettings:
    site_after_s: float = 240.0
    device_after_s: float = 600.0
    interval_s: float = 30.0


_RAISE = """
WITH silent AS (
    {silent}
), raised AS (
    INSERT INTO alarms AS a (site, alarm_id, active, at, severity, since, cleared, rule, subject,
        message, message_en, payload, origin, updated_at)
    SELECT site, alarm_id, true, since, %(severity)s, since, NULL, 'centre_no_data', subject,
        %(fr)s, %(en)s, jsonb_build_object('origin', 'centre', 'last_seen', since), 'centre', now()
    FROM silent
    ON CONFLICT (site, alarm_id) DO UPDATE SET active = true, at = excluded.at,
        since = excluded.since, cleared = NULL, severity = excluded.severity,
        message = excluded.message, message_en = excluded.message_en,
        payload = excluded.payload, updated_at = now()
    WHERE NOT a.active
    RETURNING site, alarm_id, at, payload
)
INSERT INTO alarm_history (site, alarm_id, active, at, payload)
SELECT site, alarm_id, true, at, payload FROM raised ON CONFLICT DO NOTHING
"""

_SILENT_SITES = """
    SELECT site, 'centre_no_data.site' AS alarm_id, 'site' AS subject, last_seen AS since
    FROM sites WHERE last_seen < now() - %(site_after)s
"""

_SILENT_DEVICES = """
    SELECT l.site, 'centre_no_data.' || l.device AS alarm_id, l.device AS subject,
        l.received_at AS since
    FROM site_latest l JOIN sites s USING (site)
    WHERE l.received_at < now() - %(device_after)s AND s.last_seen >= now() - %(site_after)s
"""

_CLEAR = """
WITH fresh AS (
    SELECT a.site, a.alarm_id FROM alarms a JOIN sites s USING (site)
    LEFT JOIN site_latest l ON l.site = a.site AND a.subject = l.device
    WHERE a.origin = 'centre' AND a.active AND (
        (a.subject = 'site' AND s.last_seen >= now() - %(site_after)s)
        OR (a.subject <> 'site' AND (l.received_at IS NULL
            OR l.received_at >= now() - %(device_after)s
            OR s.last_seen < now() - %(site_after)s))
    )
), cleared AS (
    UPDATE alarms a SET active = false, cleared = now(), at = now(),
        payload = a.payload || jsonb_build_object('active', false), updated_at = now()
    FROM fresh WHERE a.site = fresh.site AND a.alarm_id = fresh.alarm_id
    RETURNING a.site, a.alarm_id, a.at, a.payload
)
INSERT INTO alarm_history (site, alarm_id, active, at, payload)
SELECT site, alarm_id, false, at, payload FROM cleared ON CONFLICT DO NOTHING
"""

TEXTS = {
    "site": ("Aucune donnée reçue du site", "No data received from the site"),
    "device": ("Aucune donnée reçue de cet appareil", "No data received from this device"),
}


def sweep(conn: psycopg.Connection, settings: WatchSettings) -> bool:
    """Raise and clear the centre's alarms once; False if another process holds the lock.

    A device alarm is cleared, not kept, while its whole site is silent: the site alarm says it.
    """
    params = {
        "site_after": timedelta(seconds=settings.site_after_s),
        "device_after": timedelta(seconds=settings.device_after_s),
    }
    with conn.transaction():
        got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (WATCH_LOCK,)).fetchone()
        if not got or not got[0]:
            return False
        conn.execute(_CLEAR, params)
        fr, en = TEXTS["site"]
        conn.execute(
            _RAISE.format(silent=_SILENT_SITES),
            {**params, "severity": "critical", "fr": fr, "en": en},
        )
        fr, en = TEXTS["device"]
        conn.execute(
            _RAISE.format(silent=_SILENT_DEVICES),
            {**params, "severity": "warning", "fr": fr, "en": en},
        )
    return True


class Watcher:
    """Runs `sweep()` every interval on its own connection, in a daemon thread."""

    def __init__(self, dsn: str, settings: WatchSettings) -> None:
        self.dsn, self.settings = dsn, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fleet-watch", daemon=True)
        self.sweeps = 0
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        conn: psycopg.Connection | None = None
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = psycopg.connect(self.dsn, connect_timeout=10)
                sweep(conn, self.settings)
                self.sweeps += 1
            except psycopg.Error as exc:  # the database away: try again next interval
                self.failures += 1
                log.warning("no-data sweep failed (%d so far): %s", self.failures, exc)
                if conn is not None:
                    conn.close()
                conn = None
            self._stop.wait(self.settings.interval_s)
        if conn is not None:
            conn.close()
