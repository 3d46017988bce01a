"""The collector: every site's messages from the central broker into PostgreSQL, none lost.

Two threads and a queue. paho's network thread only puts each message on the queue
(`on_message` never blocks on the database); the writer thread takes batches from it, commits
each in one transaction (fleet/store.py) and only then acknowledges its messages (MQTT 5 manual
acknowledgement). So a message is acknowledged only once it is in the database: a collector
killed, a database down or a batch refused leaves its messages unacknowledged, and the broker
delivers them again (to this slot's persistent session, or the same message twice: the database
is idempotent on records and on every other table's key).

Each slot has a fixed client id (`edged-fleet-{group}-{slot}`), `clean_start=False` and a session
expiry, so the broker keeps queueing the slot's share of the shared subscription
`$share/{group}/{prefix}/+/#` (or of its `Lane`'s topics) while it restarts. A packet id is only
acknowledged on the connection that delivered it: after a reconnect the broker resends what was
not acknowledged, under the same ids, and may reuse an id once it is acknowledged, so
acknowledging a copy from an older connection could acknowledge a different, uncommitted message.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from fleet.payloads import parse
from fleet.schema import migrate
from fleet.store import Entry, Incoming, Store

log = logging.getLogger(__name__)


class Lane(Enum):
    """Which topics a collector takes. A slot's session is one queue, so after an outage a
    backlog of history would hold live records behind it: separate lanes keep live data live."""

    ALL = "all"
    LIVE = "live"  # everything but P/history
    HISTORY = "history"  # and the frugal mode's P/batch


LIVE_KINDS = ("telemetry", "device", "alarm", "health", "job", "power", "event", "report")


@dataclass(frozen=True)
class CollectSettings:
    host: str
    port: int
    dsn: str
    group: str = "edged-fleet"
    slot: int = 1
    prefix: str = "edged"
    batch_max: int = 1000
    batch_wait: float = 0.2
    # how many unacknowledged messages the broker may send this slot: more than a batch, so
    # messages keep arriving while the previous batch commits
    receive_max: int = 4000
    session_expiry: int = 7 * 24 * 3600
    username: str | None = None
    password: str | None = None
    keepalive: int = 30
    db_retry_max: float = 30.0

    lane: Lane = Lane.ALL

    @property
    def client_id(self) -> str:
        lane = "" if self.lane is Lane.ALL else f"{self.lane.value}-"
        return f"edged-fleet-{self.group}-{lane}{self.slot}"

    @property
    def subscriptions(self) -> list[str]:
        root = f"$share/{self.group}/{self.prefix.rstrip('/')}/+"
        if self.lane is Lane.ALL:
            return [f"{root}/#"]
        if self.lane is Lane.HISTORY:
            return [f"{root}/history/+", f"{root}/batch"]
        return [f"{root}/status"] + [f"{root}/{kind}/#" for kind in LIVE_KINDS]


class Collector:
    def __init__(
        self,
        settings: CollectSettings,
        connect_db: Callable[[], psycopg.Connection] | None = None,
    ) -> None:
        self.settings = settings
        self._connect_db = connect_db or (lambda: psycopg.connect(settings.dsn, connect_timeout=10))
        self._queue: queue.Queue[Incoming] = queue.Queue()
        self._stop = threading.Event()
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._store: Store | None = None
        self._pending = Counter[str]()  # counted outside a transaction: added to the next one
        self.failed: BaseException | None = None
        self.totals = Counter[str]()
        self._client = self._make_client()
        self._writer = threading.Thread(target=self._write_loop, name="fleet-writer", daemon=True)

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        client.reconnect_delay_set(1, 10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    # --- network thread -------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _ud, flags, reason, _props) -> None:
        with self._ack_lock:
            self._generation += 1
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        log.info(
            "connected to %s:%d as %s (session present: %s)",
            self.settings.host,
            self.settings.port,
            self.settings.client_id,
            flags.session_present,
        )
        client.subscribe([(topic, 1) for topic in self.settings.subscriptions])

    def _on_subscribe(self, _client, _ud, _mid, reasons, _props) -> None:
        refused = [r for r in reasons if r.is_failure]
        if refused:  # e.g. the broker's ACL: nothing would ever arrive
            log.error("broker refused %r: %s", self.settings.subscriptions, refused)
        else:
            log.info("subscribed to %s", ", ".join(self.settings.subscriptions))

    def _on_disconnect(self, _client, _ud, _flags, reason, _props) -> None:
        with self._ack_lock:
            self._generation += 1
        if not self._stop.is_set():
            log.warning("disconnected from the broker: %s; reconnecting", reason)

    def _on_message(self, _client, _ud, message: mqtt.MQTTMessage) -> None:
        self._queue.put(
            Incoming(
                message.topic,
                bytes(message.payload),
                message.mid,
                message.qos,
                self._generation,
                time.time(),
            )
        )

    # --- writer thread --------------------------------------------------------------------

    def _take_batch(self) -> list[Incoming]:
        try:
            first = self._queue.get(timeout=0.5)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait
        while len(batch) < self.settings.batch_max:
            left = deadline - time.monotonic()
            try:
                batch.append(
                    self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _write_loop(self) -> None:
        try:
            while not (self._stop.is_set() and self._queue.empty()):
                batch = self._take_batch()
                if batch and self._commit(batch):
                    self._ack(batch)
        except Exception as exc:  # a bug: stop the process loudly; nothing uncommitted was acked
            log.exception("collector writer failed; stopping (unacknowledged messages return)")
            self.failed = exc
            self._stop.set()

    def _commit(self, batch: list[Incoming]) -> bool:
        """Commit `batch`, retrying across database outages; False if stopped first."""
        entries = [Entry(m, parse(m.topic, m.payload, self.settings.prefix)) for m in batch]
        delay, down_since = 0.5, None
        while True:
            try:
                store = self._store or self._open_store()
                result = store.write_batch(entries, self._pending)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self._close_store()
                self._pending["db_retries"] += 1
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("database unavailable (%s); %d messages wait", exc, len(batch))
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, self.settings.db_retry_max)
                continue
            if down_since is not None:
                log.info("database back after %.0f s", time.monotonic() - down_since)
            self._pending.clear()
            self.totals.update(result.counts)
            if result.counts["rejected"]:
                log.warning(
                    "%d message(s) rejected (see the rejects table)", result.counts["rejected"]
                )
            return True

    def _open_store(self) -> Store:
        conn = self._connect_db()
        migrate(conn)
        self._store = Store(conn, self.settings.client_id)
        return self._store

    def _close_store(self) -> None:
        if self._store is not None:
            with contextlib.suppress(psycopg.Error):  # already broken: only tidying up
                self._store.conn.close()
            self._store = None

    def _ack(self, batch: list[Incoming]) -> None:
        with self._ack_lock:
            for m in batch:
                if m.qos > 0 and m.generation == self._generation:
                    self._client.ack(m.mid, m.qos)

    # --- life -----------------------------------------------------------------------------

    def start(self) -> None:
        """Migrate, then connect; the database must answer once before anything is received."""
        self._open_store()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry
        props.ReceiveMaximum = self.settings.receive_max
        self._writer.start()
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()

    def stop(self, timeout: float = 30) -> None:
        """Commit and acknowledge what is queued, then disconnect (the session stays)."""
        self._stop.set()
        self._writer.join(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        self._close_store()

    @property
    def stopping(self) -> threading.Event:
        """Set once stopping was asked for or the writer failed (`stop` then ends the run)."""
        return self._stop
