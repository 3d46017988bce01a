"""The MQTT publisher: live records, the outbox backlog as history, device state, online status.

Follows docs/architecture.md ("Publisher API") and the topic table of the contract. Delivery is
at least once: an outbox row is deleted (by the Writer, through `ack`) only after the PUBACK of
the message that carried it; whatever was in flight when the link dropped is simply sent again
from the outbox after the reconnect. This module never writes the database.

Live means live: a record goes on `P/telemetry/{device}` only if, when it is handed to paho, its
window ended less than one publish interval ago by the wall clock AND it closed less than one
publish interval ago by the monotonic clock (`is_live`). The wall clock alone would pass an old
record after a backward jump, the monotonic clock alone would pass a record whose `ts` reads
old after a forward jump: either way a dashboard would show stale data as "now", so both must
agree. Everything else goes out as history: from the outbox, or, for a record that waited in
the live queue too long (a slow broker), as a history message of its own.

A broker that takes PUBLISHes but never acknowledges them would stall delivery in silence: a
message waiting longer than `mqtt.ack_timeout` for its PUBACK makes the publisher log it (once
per episode), count it (`ack_timeouts`), tell the uplink's health (a disconnect, and a round
trip of the time waited) and reconnect; what was in flight is resent from the outbox.

Threads: paho's network loop only turns its callbacks into events on a queue; one sender thread
owns all delivery state (what is in flight, the live queue, the sweep cursor) and is the only one
that calls `publish`. That keeps paho's internal locks and ours from ever nesting both ways.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from edged.config.settings import Config
from edged.readings import DeviceState, Record
from telemetry import commands, outbox, topics
from telemetry.database import Database
from telemetry.event_log import EventLog
from telemetry.mqtt_client import build_client

log = logging.getLogger(__name__)

COMMAND_QUEUE_MAX = 100
"""Command results and `resend` history messages waiting for a slot (dropped while offline)."""
HEALTH_QUEUE_MAX = 50
"""Health messages waiting for a slot; older ones are dropped (the next round replaces them)."""
LIVE_QUEUE_MAX = 1000
"""Live records waiting for a free in-flight slot; beyond that they wait in the outbox."""
STOP_TIMEOUT = 5.0
"""How long `stop()` waits for the retained `offline` to be acknowledged."""
CLOSED_MAX = 20000
"""Close times remembered for records not yet committed (a failing disk holds them back)."""


def is_live(
    ts: float, interval: float, closed_mono: float, now_wall: float, now_mono: float
) -> bool:
    """Whether a record of the window starting at `ts`, closed at monotonic `closed_mono`,
    may still go on the live topic: its window ended less than one `interval` ago by the wall
    clock, and it closed less than one `interval` ago by the monotonic clock."""
    return now_wall - (ts + interval) < interval and now_mono - closed_mono < interval


@dataclass(slots=True)
class _Message:
    topic: str
    payload: bytes
    retain: bool = False
    ids: tuple[int, ...] = ()
    kind: str = "control"  # control | state | health | live | history | command
    sent: float = 0.0  # monotonic, for the uplink's publish -> PUBACK round trip


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
        self._ack = ack
        self._root = config.topic_root
        self._events: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._connected = False
        self._ever_connected = False
        self._fail_logged = False
        self._thread: threading.Thread | None = None
        self._stats = dict.fromkeys(
            (
                "sent_live",
                "sent_history",
                "acked",
                "reconnects",
                "bytes_out",
                "connect_failures",
                "late_to_history",
                "damaged_records",
                "ack_timeouts",
                "sent_command",
            ),
            0,
        )
        # Owned by the sender thread only.
        self._online = False
        self._inflight: dict[int, _Message] = {}
        self._control: deque[_Message] = deque()
        self._live: deque[tuple[Record, float]] = deque()  # (record, monotonic close time)
        self._closed_at: dict[int, float] = {}  # record id -> monotonic time its window closed
        self._ack_timeout_logged = False
        self._states: dict[str, bytes] = {}  # retained topic -> latest payload
        self._dirty: dict[str, None] = {}
        self._health: deque[_Message] = deque(maxlen=HEALTH_QUEUE_MAX)
        self._commands: deque[_Message] = deque(maxlen=COMMAND_QUEUE_MAX)
        self._horizon = 0
        self._cursor = 0
        self._claimed: set[int] = set()
        self._sweep_due = False
        self._stopping = False
        self._where = f"{config.mqtt.host}:{config.mqtt.port}"
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
        return {**self._stats, "outbox_read_failures": self._reader.failures}

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
        dashboard; the health table keeps it)."""
        self.publish_event(topics.health_topic(self._root, component), payload)

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
        self._stats["connect_failures"] += 1
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

    # -- sender thread: the only owner of delivery state ------------------------------------

    def _run(self) -> None:
        self._outbox()  # records stored before this run are the backlog: the horizon covers them
        deadline = None
        try:
            while True:
                wake = min(
                    filter(None, (deadline, self._ack_deadline(), self._reader.retry_at)),
                    default=None,
                )
                timeout = None if wake is None else max(0.0, wake - time.monotonic())
                try:
                    self._handle(self._events.get(timeout=timeout))
                    while True:
                        self._handle(self._events.get_nowait())
                except queue.Empty:
                    pass
                if self._stopping and deadline is None:
                    deadline = time.monotonic() + STOP_TIMEOUT
                self._check_acks()
                self._pump()
                if self._stopping and (
                    not self._online or not self._inflight or time.monotonic() >= deadline
                ):
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
        self._horizon = max(self._horizon, row[0])
        self._cursor = 0
        self._sweep_due = True
        return db

    def _handle(self, event: tuple) -> None:
        kind = event[0]
        if kind == "puback":
            self._acknowledged(event[1], failed=event[2])
        elif kind == "records":  # a commit: the outbox can be read, if it could not
            self._reader.retry_soon()
            self._new_records(event[1], event[2])
        elif kind == "closed":
            self._closed_records(event[1], event[2])
        elif kind == "state":
            self._states[event[1]] = event[2]
            self._dirty[event[1]] = None
        elif kind == "health":
            if self._online and not self._stopping:
                self._health.append(_Message(event[1], event[2], kind="health"))
        elif kind == "command":
            if self._online and not self._stopping:
                self._commands.append(_Message(event[1], event[2], kind="command"))
        elif kind == "connected":
            self._forget_connection()
            self._online = True
            if self._ever_connected:
                self._stats["reconnects"] += 1
            self._ever_connected = True
            status = topics.status_topic(self._root)
            self._control.append(_Message(status, topics.STATUS_ONLINE, retain=True))
            self._dirty = dict.fromkeys(self._states)
            self._sweep_due = True
            self._link(True)
        elif kind == "disconnected":
            self._forget_connection()
            self._link(False)
        elif kind == "stop":
            self._stopping = True
            self._control.clear()
            if self._online:
                status = topics.status_topic(self._root)
                self._control.append(_Message(status, topics.STATUS_OFFLINE, retain=True))

    def _link(self, connected: bool) -> None:
        if self._on_link is not None:
            self._on_link(connected, time.time())

    def _forget_connection(self) -> None:
        """What was in flight is still in the outbox: forget it and sweep from the start."""
        self._online = False
        self._inflight.clear()
        self._control.clear()
        self._live.clear()
        self._health.clear()
        self._commands.clear()
        self._claimed.clear()
        self._cursor = 0

    def _ack_deadline(self) -> float | None:
        """When the oldest message in flight runs out of time for its PUBACK."""
        if not self._online or not self._inflight:
            return None
        oldest = min(m.sent for m in self._inflight.values())
        return oldest + self._config.mqtt.ack_timeout

    def _check_acks(self) -> None:
        """A broker that accepts PUBLISHes but sends no PUBACK: reconnect (see module doc)."""
        due = self._ack_deadline()
        if due is None or time.monotonic() < due or self._stopping or self._client is None:
            return
        waited = time.monotonic() - min(m.sent for m in self._inflight.values())
        self._stats["ack_timeouts"] += 1
        if not self._ack_timeout_logged:
            self._ack_timeout_logged = True
            log.warning(
                "MQTT broker %s sent no PUBACK for %.0f s (%d messages in flight): reconnecting",
                self._where,
                waited,
                len(self._inflight),
            )
        if self._on_rtt is not None:
            self._on_rtt(waited)
        self._connected = False  # our own disconnect: `_on_disconnect` stays quiet
        self._forget_connection()
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

    def _acknowledged(self, mid: int, failed: bool) -> None:
        message = self._inflight.pop(mid, None)
        if message is not None and not failed and self._ack_timeout_logged:
            self._ack_timeout_logged = False
            log.info("MQTT broker %s acknowledges again", self._where)
        if message is not None and self._on_rtt is not None and not failed:
            self._on_rtt(time.monotonic() - message.sent)
        if message is None or not message.ids:
            return
        if failed:  # MQTT 5 only (we speak 3.1.1); the records wait for the next connection
            log.warning("broker rejected a message on %r", message.topic)
            return
        self._stats["acked"] += len(message.ids)
        try:
            self._ack(list(message.ids))
        except Exception:  # a failing ack only costs a duplicate later; keep publishing
            log.exception("ack callback failed for %d records", len(message.ids))

    def _fresh(self, record: Record, closed_mono: float) -> bool:
        interval = self._config.telemetry.publish_interval
        return is_live(record.ts, interval, closed_mono, time.time(), time.monotonic())

    def _queue_live(self, record: Record, closed_mono: float) -> bool:
        """Queue `record` live if the link is up, there is room and it is still fresh."""
        if not self._online or self._stopping or len(self._live) >= LIVE_QUEUE_MAX:
            return False
        if not self._fresh(record, closed_mono):
            return False
        self._live.append((record, closed_mono))
        self._claimed.add(record.id)
        return True

    def _new_records(self, records: list[Record], committed_mono: float) -> None:
        for record in records:
            if record.id is None:
                continue
            # A record not seen closing closed in this commit (its drain or idle close).
            closed_mono = self._closed_at.pop(record.id, committed_mono)
            self._horizon = max(self._horizon, record.id)
            if record.id <= self._cursor or record.id in self._claimed:
                continue  # already swept as history at start-up, or already queued live
            if not self._queue_live(record, closed_mono):
                self._sweep_due = True
        if self._online and not self._sweep_due:
            # Nothing left behind: all up to the horizon is claimed; keep `_claimed` small.
            self._advance(self._horizon)

    def _closed_records(self, records: list[Record], closed_mono: float) -> None:
        """Live before their commit. The horizon does not move: the sweep must not pass ids
        whose outbox rows are not written yet (their commit moves it, `_new_records`)."""
        for record in records:
            if record.id is None:
                continue
            self._closed_at[record.id] = closed_mono
            if record.id > self._cursor and record.id not in self._claimed:
                self._queue_live(record, closed_mono)
        while len(self._closed_at) > CLOSED_MAX:  # records whose commit never came
            del self._closed_at[next(iter(self._closed_at))]

    def _advance(self, cursor: int) -> None:
        """Everything up to `cursor` was sent (or is queued live) in this connection."""
        self._cursor = cursor
        self._claimed = {i for i in self._claimed if i > cursor}

    def _pump(self) -> None:
        """Fill the free in-flight slots: status, device states, live records, then history."""
        max_inflight = self._config.mqtt.max_inflight
        while self._online and len(self._inflight) < max_inflight:
            message = self._next_message()
            if message is not None:
                self._send(message)
                continue
            if self._stopping or not self._sweep_due:
                return
            db = self._outbox()
            if db is None:
                return
            batches = self._sweep(db, max_inflight - len(self._inflight))
            if not batches:
                return
            for records in batches:
                self._send(self._history_message(records))

    def _next_message(self) -> _Message | None:
        if self._control:
            return self._control.popleft()
        if self._stopping:
            return None
        if self._dirty:
            topic = next(iter(self._dirty))
            del self._dirty[topic]
            return _Message(topic, self._states[topic], retain=True, kind="state")
        if self._health:
            return self._health.popleft()
        if self._live:
            return self._live_message()
        if self._commands:
            return self._commands.popleft()
        return None

    def _live_message(self) -> _Message:
        """The next live record; if it waited too long (a slow broker), it and the stale
        records of the same device behind it go out as one history message instead."""
        record, closed_mono = self._live.popleft()
        if self._fresh(record, closed_mono):
            topic = topics.telemetry_topic(self._root, record.device)
            payload = topics.telemetry_payload(record, self._config.telemetry.payload)
            return _Message(topic, payload, ids=(record.id,), kind="live")
        late = [record]
        size = self._config.telemetry.history_batch
        while self._live and len(late) < size:
            following, closed = self._live[0]
            if following.device != record.device or self._fresh(following, closed):
                break
            late.append(self._live.popleft()[0])
        self._stats["late_to_history"] += len(late)
        return self._history_message(late)

    def _sweep(self, db: Database, slots: int) -> list[list[Record]]:
        """The oldest unclaimed outbox records up to the horizon, cut into history batches.

        The cursor moves over everything sent in this connection, so records acked but not yet
        deleted by the Writer (it deletes at its next commit) are not sent twice.
        """
        size = self._config.telemetry.history_batch
        limit = size * self._config.mqtt.max_inflight  # a wide window fills each device's batch
        above = [i for i in self._claimed if i > self._cursor]
        damaged: list[int] = []
        try:
            found = outbox.pending(
                db,
                limit,
                after_id=self._cursor,
                upto_id=self._horizon,
                exclude=above,
                damaged=damaged,
            )
        except sqlite3.Error as exc:  # damage, I/O: reopened after a backoff, swept again
            self._reader.failed(exc)
            return []
        self._reader.read_ok()
        if damaged:
            self._drop_damaged(damaged)
        complete = len(found) + len(damaged) < limit
        batches = topics.history_batches(found, size, slots, complete)
        sent = {r.id for batch in batches for r in batch}
        unsent = [r.id for r in found if r.id not in sent]
        self._claimed |= sent
        if unsent:
            self._advance(unsent[0] - 1)
        elif complete:
            self._advance(self._horizon)
        else:
            self._advance(max([r.id for r in found[-1:]] + damaged))
        self._sweep_due = bool(unsent) or not complete
        return batches

    def _drop_damaged(self, ids: list[int]) -> None:
        """Stored records that cannot be decoded leave the outbox (through the Writer, like an
        ack); their rows stay on the card for a technician until pruned."""
        self._stats["damaged_records"] += len(ids)
        log.warning(
            "%d stored record(s) unreadable, dropped from the outbox (kept on the card): ids %s",
            len(ids),
            ids[:10],
        )
        self._ack(list(ids))

    def _history_message(self, records: list[Record]) -> _Message:
        compress = self._config.telemetry.compress_history
        return _Message(
            topics.history_topic(self._root, records[0].device),
            topics.history_payload(records, compress, self._config.telemetry.payload),
            ids=tuple(r.id for r in records),
            kind="history",
        )

    def _send(self, message: _Message) -> None:
        message.sent = time.monotonic()
        info = self._client.publish(message.topic, message.payload, qos=1, retain=message.retain)
        self._inflight[info.mid] = message
        self._stats["bytes_out"] += len(message.payload)
        if message.kind == "live":
            self._stats["sent_live"] += 1
        elif message.kind == "history":
            self._stats["sent_history"] += len(message.ids)
        elif message.kind == "command":
            self._stats["sent_command"] += 1
