"""The MQTT publisher: live records, the outbox backlog as history, device state, online status.

Follows docs/architecture.md ("Publisher API") and the topic table of the contract. The delivery
rules (at least once, the sweep's cursor and horizon, live means live, PUBACK deadlines, damaged
rows) are `telemetry.delivery.Delivery`'s, which holds the state and does no I/O; this module is
the paho glue and the outbox reads around it, and builds the messages' topics and payloads. It
never writes the database.

A broker that takes PUBLISHes but never acknowledges them would stall delivery in silence: a
message waiting longer than `mqtt.ack_timeout` for its PUBACK makes the publisher log it (once
per episode), count it (`ack_timeouts`), tell the uplink's health (a disconnect, and a round
trip of the time waited) and reconnect; what was in flight is resent from the outbox.

Threads: paho's network loop only turns its callbacks into events on a queue; one sender thread
owns the `Delivery` (what is in flight, the live queue, the sweep cursor) and is the only one
that calls `publish`. That keeps paho's internal locks and ours from ever nesting both ways.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from edged.config.settings import Config
from edged.readings import DeviceState, Record
from telemetry import commands, outbox, topics
from telemetry.batching import Batching
from telemetry.database import Database
from telemetry.delivery import Delivery
from telemetry.event_log import EventLog
from telemetry.mqtt_client import build_client
from telemetry.outgoing import Outgoing

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0
"""How long `stop()` waits for the retained `offline` to be acknowledged."""


class Publisher:
    """Publishes what the Writer committed; see the module docstring for the delivery rules."""

    def __init__(
        self,
        config: Config,
        db_path: str,
        ack: Callable[[list[int]], None],
        *,
        on_link: Callable[[bool, float], None] | None = None,
        on_rtt: Callable[[float], None] | None = None,
        on_command: Callable[[str, bytes], None] | None = None,
    ) -> None:
        """`on_link(connected, wall time)` and `on_rtt(seconds)` feed the uplink's health; they
        are called on the sender thread and must be quick. With `on_command`, `P/cmd/+` is
        subscribed (QoS 1) on every connect and each message handed to it (topic, payload) on
        paho's network thread: it must only queue it (edged.services.remote)."""
        self._on_command = on_command
        self._config = config
        self._on_link, self._on_rtt = on_link, on_rtt
        self._reader = outbox.Reader(db_path)
        self._generation = 0  # the reader's generation the cursor and horizon belong to
        self._root = config.topic_root
        self._events: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._connected = False
        self._fail_logged = False
        self._thread: threading.Thread | None = None
        self._connect_failures = 0
        self._where = f"{config.mqtt.host}:{config.mqtt.port}"
        self._delivery = Delivery(
            publish_interval=config.telemetry.publish_interval,
            history_batch=config.telemetry.history_batch,
            max_inflight=config.mqtt.max_inflight,
            ack_timeout=config.mqtt.ack_timeout,
            ack=ack,
            where=self._where,
            batching=Batching.for_mode(config.telemetry),
        )
        """Owned by the sender thread: what is in flight, the live queue, the sweep's cursor."""
        self._link_log = EventLog(log, f"MQTT link to {self._where}")
        """Connected, lost, refused: once each, counted when a broker or the 3G link flaps."""
        self._client: mqtt.Client | None = None
        try:  # a missing CA file must not take the daemon down: it runs on, storing
            self._client = self._make_client()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            log.error("MQTT publisher for %s cannot be set up: %s", self._where, exc)

    # -- caller side ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def stats(self) -> dict[str, int]:
        return {
            **self._delivery.stats,
            "connect_failures": self._connect_failures,
            "outbox_read_failures": self._reader.failures,
        }

    @property
    def sender_alive(self) -> bool | None:
        """Whether the sender thread runs; None when it was never started (no client)."""
        return None if self._thread is None else self._thread.is_alive()

    def start(self) -> None:
        """Connect in the background; an unreachable broker is normal and retried forever."""
        cfg = self._config.mqtt
        if self._client is None:
            return
        try:
            self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive)
        except ValueError as exc:
            log.error("MQTT publisher cannot connect to %s: %s", self._where, exc)
            return
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._thread.start()
        self._client.loop_start()

    def stop(self) -> None:
        """Publish the retained `offline` (waiting for its PUBACK), then disconnect cleanly."""
        if self._thread is not None:
            self._events.put(("stop",))
            self._thread.join(STOP_TIMEOUT + 1.0)
            self._thread = None
        if self._connected:
            self._connected = False  # a disconnect we asked for is not a lost connection
            log.info("MQTT disconnected from %s", self._where)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def publish_records(self, records: list[Record]) -> None:
        """Records just committed: sent live if connected, otherwise they wait in the outbox."""
        if records:
            self._events.put(("records", list(records), time.monotonic()))

    def publish_closed(self, records: list[Record]) -> None:
        """Records whose window just closed, not committed yet: sent live now if connected (a
        PUBACK before their commit spares them an outbox row); otherwise dropped here, since
        their commit hands them to `publish_records` and the outbox keeps them."""
        if records:
            self._events.put(("closed", list(records), time.monotonic()))

    def publish_device_state(self, device: str, state: DeviceState) -> None:
        """Retained device state; the latest per device is republished on every reconnect."""
        topic = topics.device_topic(self._root, device)
        self._events.put(("state", topic, topics.device_state_payload(state)))

    def publish_alarm(self, alarm_id: str, payload: dict) -> None:
        """Retained alarm state (raised or cleared), republished on every reconnect."""
        self.publish_retained(topics.alarm_topic(self._root, alarm_id), payload)

    def publish_health(self, component: str, payload: dict) -> None:
        """`P/health/{component}`: an event (a stale health reading is worth nothing to a
        dashboard; the health table keeps it). In frugal mode: a row of the next batch."""
        if self._config.telemetry.mode == "frugal":
            self._events.put(("health_row", (component, payload)))
        else:
            self.publish_event(topics.health_topic(self._root, component), payload)

    def request_live(self, seconds: float) -> float:
        """Frugal mode: records go live for `seconds` (0: off, capped at `live_max_minutes`).
        Returns the seconds granted (0 in live mode, where records always go live)."""
        telemetry = self._config.telemetry
        if telemetry.mode != "frugal":
            return 0.0
        granted = max(0.0, min(float(seconds), telemetry.live_max_minutes * 60.0))
        self._events.put(("live", granted))
        return granted

    def publish_retained(self, topic: str, payload: dict) -> None:
        """Any retained state (`P/alarm`, `P/job`, `P/power/shedding`, `P/report`): the latest
        per topic is kept and republished on every reconnect, so a dashboard never misses it."""
        self._events.put(("state", topic, topics.json_payload(payload)))

    def publish_event(self, topic: str, payload: dict) -> None:
        """QoS 1, not retained (`P/health`, `P/event`); dropped while disconnected: the
        database keeps what matters (health, power_events tables)."""
        self._events.put(("health", topic, topics.json_payload(payload)))

    def publish_command(self, topic: str, payload: bytes) -> None:
        """QoS 1, not retained: a command's result, or a `resend`'s history message. Sent after
        live records (which must stay live); dropped while disconnected."""
        self._events.put(("command", topic, payload))

    # -- paho callbacks (network thread): record, log transitions, hand over ------------------

    def _make_client(self) -> mqtt.Client:
        client = build_client(self._config)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        if self._on_command is not None:
            client.on_message = self._on_message
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._connect_failed(f"refused: {reason_code}")
            return
        # Messages paho kept from the previous connection are forgotten: they are still in the
        # outbox and the sweep resends them, so paho must not resend them behind our back.
        client.drop_out_messages()
        if self._on_command is not None:
            client.subscribe(commands.command_filter(self._root), qos=1)
        self._connected = True
        self._fail_logged = False
        self._link_log.log(logging.INFO, "MQTT connected to %s", self._where)
        self._events.put(("connected",))

    def _on_connect_fail(self, client, userdata) -> None:
        self._connect_failed(repr(sys.exception()))  # called inside paho's `except OSError`

    def _connect_failed(self, reason: str) -> None:
        self._connect_failures += 1
        if not self._fail_logged:
            self._fail_logged = True
            self._link_log.log(
                logging.WARNING, "MQTT cannot connect to %s (%s); retrying", self._where, reason
            )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected:
            self._connected = False
            self._link_log.log(
                logging.WARNING, "MQTT connection to %s lost: %s", self._where, reason_code
            )
            self._events.put(("disconnected",))

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._events.put(("puback", mid, reason_code.is_failure))

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        if self._on_command is not None:
            self._on_command(message.topic, bytes(message.payload))

    # -- sender thread: drives the delivery state (telemetry.delivery) and does the I/O -------

    def _run(self) -> None:
        self._outbox()  # records stored before this run are the backlog: the horizon covers them
        delivery = self._delivery
        deadline = None
        try:
            while True:
                wakes = (deadline, delivery.ack_deadline(), self._reader.retry_at)
                wake = min(filter(None, (*wakes, delivery.wake_at())), default=None)
                timeout = None if wake is None else max(0.0, wake - time.monotonic())
                try:
                    self._handle(self._events.get(timeout=timeout))
                    while True:
                        self._handle(self._events.get_nowait())
                except queue.Empty:
                    pass
                if delivery.stopping and deadline is None:
                    deadline = time.monotonic() + STOP_TIMEOUT
                self._check_acks()
                self._pump()
                if delivery.done(deadline is not None and time.monotonic() >= deadline):
                    return
        finally:
            self._reader.close()

    def _outbox(self) -> Database | None:
        """The outbox's connection, or None while it cannot be read (live records still go
        out). A new generation may be a new file (the Writer replaced a damaged one): its
        records are swept from the start, up to its newest one at least."""
        db = self._reader.connection()
        if db is None or self._reader.generation == self._generation:
            return db
        try:
            row = db.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()
        except sqlite3.Error as exc:
            self._reader.failed(exc)
            return None
        self._generation = self._reader.generation
        self._delivery.outbox_opened(row[0])
        return db

    def _handle(self, event: tuple) -> None:
        kind = event[0]
        delivery = self._delivery
        if kind == "puback":
            rtt = delivery.acknowledged(event[1], failed=event[2])
            if rtt is not None and self._on_rtt is not None:
                self._on_rtt(rtt)
        elif kind == "records":  # a commit: the outbox can be read, if it could not
            self._reader.retry_soon()
            delivery.committed(event[1], event[2])
        elif kind == "closed":
            delivery.closed(event[1], event[2])
        elif kind == "state":
            delivery.state(event[1], event[2])
        elif kind == "health":
            delivery.health(event[1], event[2])
        elif kind == "command":
            delivery.command(event[1], event[2])
        elif kind == "health_row":
            delivery.health_row(event[1])
        elif kind == "live":
            delivery.live(event[1])
        elif kind == "connected":
            status = topics.status_topic(self._root)
            delivery.connected(Outgoing("control", status, topics.STATUS_ONLINE, retain=True))
            self._link(True)
        elif kind == "disconnected":
            delivery.disconnected()
            self._link(False)
        elif kind == "stop":
            status = topics.status_topic(self._root)
            delivery.stop(Outgoing("control", status, topics.STATUS_OFFLINE, retain=True))

    def _link(self, connected: bool) -> None:
        if self._on_link is not None:
            self._on_link(connected, time.time())

    def _check_acks(self) -> None:
        """A broker that accepts PUBLISHes but sends no PUBACK: reconnect (see module doc)."""
        if self._client is None:
            return
        overdue = self._delivery.ack_overdue()
        if overdue is None:
            return
        if overdue.first:
            log.warning(
                "MQTT broker %s sent no PUBACK for %.0f s (%d messages in flight): reconnecting",
                self._where,
                overdue.waited,
                overdue.inflight,
            )
        if self._on_rtt is not None:
            self._on_rtt(overdue.waited)
        self._connected = False  # our own disconnect: `_on_disconnect` stays quiet
        self._link(False)
        cfg = self._config.mqtt
        self._client.disconnect()
        self._client.loop_stop()
        try:
            self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive)
        except ValueError as exc:  # not expected: the same arguments worked at start
            log.error("MQTT publisher cannot reconnect to %s: %s", self._where, exc)
            return
        self._client.loop_start()

    def _pump(self) -> None:
        """Fill the free in-flight slots: status, device states, live records, then history
        swept from the outbox."""
        delivery = self._delivery
        while delivery.free_slots > 0:
            message = delivery.next_message()
            if message is not None:
                self._send(message)
                continue
            if not delivery.sweep_due:
                return
            db = self._outbox()
            if db is None:
                return
            query = delivery.sweep_query()
            damaged: list[int] = []
            try:
                found = outbox.pending(
                    db,
                    query.limit,
                    after_id=query.after_id,
                    upto_id=query.upto_id,
                    exclude=query.exclude,
                    damaged=damaged,
                )
            except sqlite3.Error as exc:  # damage, I/O: reopened after a backoff, swept again
                self._reader.failed(exc)
                return
            self._reader.read_ok()
            messages = delivery.sweep_messages(query, found, damaged)
            if not messages:
                return
            for outgoing in messages:
                self._send(outgoing)

    def _send(self, message: Outgoing) -> None:
        topic, payload = topics.encode(message, self._root, self._config.telemetry)
        info = self._client.publish(topic, payload, qos=1, retain=message.retain)
        self._delivery.sent(info.mid, message, topic, len(payload))
