"""The publisher's delivery bookkeeping: what goes out next, what is in flight, what was acked.

No network, no database, no paho: `telemetry.mqtt.Publisher` drives a `Delivery` from its sender
thread (events in, messages out) and does the I/O around it (paho's publish, the outbox reads).
Kept apart so that the rules below can be tested on their own, with a fake clock, without a
broker.

The rules:
- At least once: an outbox row leaves (through `ack`, the Writer's) only after the PUBACK of the
  message that carried it. A failed PUBACK or a lost connection leaves it in the outbox; the
  sweep sends it again from the start after the next connect.
- The cursor: every outbox id up to it was sent (or is queued live) in this connection, so
  records acked but not yet deleted by the Writer are not swept twice. It moves only over ids
  handed out; `claimed` holds the ids above it already handed out (live records ahead of the
  sweep), never more than the live queue and the in-flight slots hold.
- The horizon: the newest id whose outbox row is committed. Records handed over before their
  commit (`closed`) may go live, but the sweep never passes the horizon.
- Live means live (`telemetry.live_queue`): fresh by the wall and the monotonic clock when
  queued and when handed out, else it goes out as history.
- Frugal mode (`telemetry.batching`): records and health rows go in hourly batches, records
  live only while a technician asked; the outbox and PUBACK rules above are unchanged.
- One `(device, ts)`, one content: a record leaves with the content the Writer committed, once
  live or from the outbox, never re-encoded from something else.
- A PUBACK not received within `ack_timeout` is overdue: the connection is forgotten (the caller
  reconnects), and the in-flight records are swept again after the connect.
- A stored record that does not decode is dropped from the outbox through `ack` (counted,
  logged): one damaged row must never stop the sweep.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

from edged.readings import Record
from telemetry import topics
from telemetry.batching import Batching, cut
from telemetry.inflight import Flight, InFlight, Overdue
from telemetry.live_queue import LiveQueue
from telemetry.outgoing import HealthRow, Outgoing, SweepQuery

log = logging.getLogger(__name__)

COMMAND_QUEUE_MAX = 100
"""Command results and `resend` history messages waiting for a slot (dropped while offline)."""
HEALTH_QUEUE_MAX = 50
"""Health messages waiting for a slot; older ones are dropped (the next round replaces them)."""
CLOSED_MAX = 20000
"""Close times remembered for records not yet committed (a failing disk holds them back)."""

STAT_KEYS = ("sent_live", "sent_history", "acked", "reconnects", "bytes_out", "late_to_history")
STAT_KEYS += ("damaged_records", "ack_timeouts", "sent_command", "sent_batch")


class Delivery:
    """The sender thread's delivery state (see the module docstring). Not thread-safe: one
    thread calls everything but `stats`, which others may read."""

    def __init__(
        self,
        *,
        publish_interval: float,
        history_batch: int,
        max_inflight: int,
        ack_timeout: float,
        ack: Callable[[list[int]], None],
        where: str = "broker",
        batching: Batching | None = None,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        """`ack(ids)` makes outbox rows leave (the Writer deletes them at its next commit);
        `where` names the broker in log lines; `wall` and `mono` are the clocks (tests pass
        their own); `batching` puts it in frugal mode (telemetry.batching)."""
        self._batch = history_batch
        self._ack = ack
        self._where = where
        self._wall, self._mono = wall, mono
        self.stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        # Read by the publisher, written only here: connected now; stopping; every outbox
        # id up to `cursor` handed out in this connection; `horizon` the newest committed.
        self.online = False
        self._ever_connected = False
        self.stopping = False
        self._inflight = InFlight(max_inflight, ack_timeout)
        self._control: deque[Outgoing] = deque()
        self._live = LiveQueue(publish_interval, wall, mono)
        self._closed_at: dict[int, float] = {}  # record id -> monotonic time its window closed
        self._states: dict[str, bytes] = {}  # retained topic -> latest payload
        self._dirty: dict[str, None] = {}
        self._health: deque[Outgoing] = deque(maxlen=HEALTH_QUEUE_MAX)
        self._commands: deque[Outgoing] = deque(maxlen=COMMAND_QUEUE_MAX)
        self.horizon = 0
        self.cursor = 0
        self._claimed: set[int] = set()
        self._sweep_due = False
        self._batching = batching

    # -- what the publisher reads ------------------------------------------------------------

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def claimed(self) -> int:
        """How many ids above the cursor are handed out (bounded by the queues and slots)."""
        return len(self._claimed)

    @property
    def free_slots(self) -> int:
        """In-flight slots free now; 0 while offline."""
        return self._inflight.free() if self.online else 0

    @property
    def sweep_due(self) -> bool:
        """Whether to read the outbox now: it may hold records nothing has claimed (in frugal
        mode: and a batch is due)."""
        if self.stopping:
            return False
        if self._batching is None:
            return self._sweep_due
        return self._batching.due(self._sweep_due)

    def wake_at(self) -> float | None:
        """Monotonic time a frugal batch falls due (the sender sleeps until then at most)."""
        if self._batching is None or not self.online or self.stopping:
            return None
        return self._batching.wake_at(self._sweep_due)

    def done(self, past_deadline: bool) -> bool:
        """Stopping and nothing left to wait for (or no more time to wait)."""
        return self.stopping and (not self.online or not self._inflight or past_deadline)

    # -- events ------------------------------------------------------------------------------

    def connected(self, status: Outgoing) -> None:
        """A new connection: sent first `status` (the retained `online`), then every retained
        state again, then the backlog swept from the start."""
        self._forget_connection()
        self.online = True
        if self._ever_connected:
            self.stats["reconnects"] += 1
        self._ever_connected = True
        self._control.append(status)
        self._dirty = dict.fromkeys(self._states)
        self._sweep_due = True
        if self._batching is not None:
            self._batching.drain()

    def disconnected(self) -> None:
        self._forget_connection()

    def stop(self, status: Outgoing) -> None:
        """Only `status` (the retained `offline`) goes out from now on, if online."""
        self.stopping = True
        self._control.clear()
        if self.online:
            self._control.append(status)

    def state(self, topic: str, payload: bytes) -> None:
        """A retained state: the latest per topic, republished on every connect."""
        self._states[topic] = payload
        self._dirty[topic] = None

    def health(self, topic: str, payload: bytes) -> None:
        """An event: dropped unless online (the database keeps what matters)."""
        self._queue_event(self._health, Outgoing("health", topic, payload))

    def health_row(self, row: HealthRow) -> None:
        """Frugal mode: a health reading for the next batch, kept while offline."""
        assert self._batching is not None
        self._batching.health.append(row)

    def live(self, seconds: float) -> float:
        """Frugal mode: records go live for `seconds` (0: off); the seconds granted."""
        return 0.0 if self._batching is None else self._batching.request_live(seconds)

    def command(self, topic: str, payload: bytes) -> None:
        """A command's answer or a `resend`'s history: dropped unless online."""
        self._queue_event(self._commands, Outgoing("command", topic, payload))

    def outbox_opened(self, newest_id: int) -> None:
        """The outbox was (re)opened, maybe a new file (the Writer replaced a damaged one): its
        records are swept from the start, up to `newest_id` at least."""
        self.horizon = max(self.horizon, newest_id)
        self.cursor = 0
        self._sweep_due = True

    def closed(self, records: Sequence[Record], closed_mono: float) -> None:
        """Records whose window just closed, before their commit: queued live if they can go.
        The horizon does not move: the sweep must not pass ids whose outbox rows are not
        written yet (`committed` moves it)."""
        for record in records:
            if record.id is None:
                continue
            self._closed_at[record.id] = closed_mono
            if record.id > self.cursor and record.id not in self._claimed:
                self._queue_live(record, closed_mono)
        while len(self._closed_at) > CLOSED_MAX:  # records whose commit never came
            del self._closed_at[next(iter(self._closed_at))]

    def committed(self, records: Sequence[Record], committed_mono: float) -> None:
        """Records just committed (with their outbox rows): live if they still can, else the
        sweep takes them."""
        for record in records:
            if record.id is None:
                continue
            # A record not seen closing closed in this commit (its drain or idle close).
            closed_mono = self._closed_at.pop(record.id, committed_mono)
            self.horizon = max(self.horizon, record.id)
            if record.id <= self.cursor or record.id in self._claimed:
                continue  # already swept as history at start-up, or already queued live
            if not self._queue_live(record, closed_mono):
                self._sweep_due = True
                if self._batching is not None:
                    self._batching.waiting(1)
        if self.online and not self._sweep_due:
            # Nothing left behind: all up to the horizon is claimed; keep `_claimed` small.
            self._advance(self.horizon)

    def acknowledged(self, mid: int, failed: bool) -> float | None:
        """The PUBACK of message `mid`: its records leave the outbox (through `ack`) unless the
        broker failed it. Returns the round trip for the uplink's health, or None."""
        flight = self._inflight.pop(mid)
        if flight is None:
            return None
        if failed:  # MQTT 5 only (we speak 3.1.1); the records wait for the next connection
            if flight.ids:
                log.warning("broker rejected a message on %r", flight.topic)
            return None
        if self._inflight.timeout_reported:
            self._inflight.timeout_reported = False
            log.info("MQTT broker %s acknowledges again", self._where)
        rtt = self._mono() - flight.sent
        if flight.ids:
            try:
                self._ack(list(flight.ids))
            except Exception:  # a failing ack only costs a duplicate later; keep publishing
                log.exception("ack callback failed for %d records", len(flight.ids))
            self.stats["acked"] += len(flight.ids)  # counted once handed over
        return rtt

    def ack_deadline(self) -> float | None:
        """Monotonic time the oldest message in flight runs out of time for its PUBACK."""
        return self._inflight.deadline() if self.online else None

    def ack_overdue(self) -> Overdue | None:
        """If a PUBACK is overdue (and not stopping): count it, forget the connection (what
        was in flight is swept again after the next connect) and say so; the caller
        reconnects."""
        if not self.online or self.stopping:
            return None
        overdue = self._inflight.overdue(self._mono())
        if overdue is None:
            return None
        self.stats["ack_timeouts"] += 1
        self._forget_connection()
        return overdue

    # -- what goes out -----------------------------------------------------------------------

    def next_message(self) -> Outgoing | None:
        """The next message in order: status, retained states, health, live, command answers;
        None when only the sweep is left."""
        if self._control:
            return self._control.popleft()
        if self.stopping:
            return None
        if self._dirty:
            topic = next(iter(self._dirty))
            del self._dirty[topic]
            return Outgoing("state", topic, self._states[topic], retain=True)
        if self._health:
            return self._health.popleft()
        if self._live:
            return self._live_message()
        if self._commands:
            return self._commands.popleft()
        return None

    def sweep_query(self) -> SweepQuery:
        """The outbox read for the next sweep: a window wide enough to fill each device's batch
        in every slot."""
        return SweepQuery(
            after_id=self.cursor,
            upto_id=self.horizon,
            exclude=tuple(i for i in self._claimed if i > self.cursor),
            limit=self._batching.max_records
            if self._batching is not None
            else self._batch * self._inflight.capacity,
        )

    def swept(
        self, query: SweepQuery, found: Sequence[Record], damaged: Sequence[int]
    ) -> list[list[Record]]:
        """What the outbox gave for `query` (`damaged`: ids that did not decode), cut into the
        history batches to send now (at most the free slots). They are claimed, and the cursor
        moves over everything handed out or dropped; records left for a fuller batch are read
        again by the next sweep."""
        if damaged:
            self._drop_damaged(list(damaged))
        complete = len(found) + len(damaged) < query.limit
        if self._batching is not None:
            batches = cut(found, self._batching.max_records, self.free_slots)
        else:
            batches = topics.history_batches(found, self._batch, self.free_slots, complete)
        sent = {r.id for batch in batches for r in batch}
        unsent = [r.id for r in found if r.id not in sent]
        self._claimed |= sent
        if unsent:
            self._advance(unsent[0] - 1)
        elif complete:
            self._advance(self.horizon)
        else:
            self._advance(max([r.id for r in found[-1:]] + list(damaged)))
        self._sweep_due = bool(unsent) or not complete
        return batches

    def sweep_messages(
        self, query: SweepQuery, found: Sequence[Record], damaged: Sequence[int]
    ) -> list[Outgoing]:
        """`swept`, as the messages to send: one device's history each, or in frugal mode the
        batches (with the health rows waiting, even when no record does)."""
        batches = self.swept(query, found, damaged)
        if self._batching is None:
            return [Outgoing("history", records=tuple(batch)) for batch in batches]
        complete = not self._sweep_due
        return self._batching.messages(batches, complete)

    def sent(self, mid: int, message: Outgoing, topic: str, size: int) -> None:
        """`message` was handed to the broker as `mid` (its encoded `topic`, `size` bytes)."""
        ids = tuple(r.id for r in message.records if r.id is not None)
        self._inflight.add(mid, Flight(message.kind, topic, ids, self._mono(), message.health))
        self.stats["bytes_out"] += size
        if message.kind == "live":
            self.stats["sent_live"] += 1
        elif message.kind == "history":
            self.stats["sent_history"] += len(ids)
        elif message.kind == "command":
            self.stats["sent_command"] += 1
        elif message.kind == "batch":
            self.stats["sent_batch"] += 1
            self.stats["sent_history"] += len(ids)

    # -- inside ------------------------------------------------------------------------------

    def _queue_event(self, waiting: deque[Outgoing], message: Outgoing) -> None:
        """Health and command answers are worth nothing later: queued only while online."""
        if self.online and not self.stopping:
            waiting.append(message)

    def _queue_live(self, record: Record, closed_mono: float) -> bool:
        """Queue `record` live if online and the live queue takes it (room, still fresh)."""
        if not self.online or self.stopping:
            return False
        if self._batching is not None and not self._batching.live_wanted():
            return False
        if not self._live.offer(record, closed_mono):
            return False
        self._claimed.add(record.id)
        return True

    def _live_message(self) -> Outgoing:
        """The next live record, or the late ones it heads as one history message."""
        live, records = self._live.take(self._batch)
        if live:
            return Outgoing("live", records=records)
        self.stats["late_to_history"] += len(records)
        return Outgoing("history", records=records)

    def _advance(self, cursor: int) -> None:
        """Everything up to `cursor` was sent (or is queued live) in this connection."""
        self.cursor = cursor
        self._claimed = {i for i in self._claimed if i > cursor}

    def _forget_connection(self) -> None:
        """What was in flight is still in the outbox: forget it and sweep from the start."""
        self.online = False
        for flight in self._inflight.clear():
            if flight.health and self._batching is not None:
                self._batching.returned(flight.health)
        self._control.clear()
        self._live.clear()
        self._health.clear()
        self._commands.clear()
        self._claimed.clear()
        self.cursor = 0

    def _drop_damaged(self, ids: list[int]) -> None:
        """Stored records that cannot be decoded leave the outbox (through `ack`, like an
        acknowledged record); their rows stay on the card for a technician until pruned."""
        self.stats["damaged_records"] += len(ids)
        log.warning(
            "%d stored record(s) unreadable, dropped from the outbox (kept on the card): ids %s",
            len(ids),
            ids[:10],
        )
        self._ack(ids)
