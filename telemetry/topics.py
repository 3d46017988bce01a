"""The MQTT topics and payloads of the contract (docs/mqtt.md).

Pure functions only: no client, socket, clock or database here, so the wire format can be tested
byte for byte and reused by anyone who reads what edged publishes (`decode_payload`). JSON is
compact (no spaces) because the uplink is metered.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from edged.config.site import TelemetryConfig
from edged.readings import DeviceState, Record
from telemetry import compact
from telemetry.outgoing import HealthRow, Outgoing

GZIP_MAGIC = b"\x1f\x8b"
STATUS_ONLINE = b"online"
STATUS_OFFLINE = b"offline"


def status_topic(root: str) -> str:
    return f"{root}/status"


def telemetry_topic(root: str, device: str) -> str:
    return f"{root}/telemetry/{device}"


def history_topic(root: str, device: str) -> str:
    return f"{root}/history/{device}"


def batch_topic(root: str) -> str:
    """Frugal mode: every device's records and the health rows of an hour, in one message."""
    return f"{root}/batch"


def device_topic(root: str, device: str) -> str:
    return f"{root}/device/{device}"


def alarm_topic(root: str, alarm_id: str) -> str:
    return f"{root}/alarm/{alarm_id}"


def health_topic(root: str, component: str) -> str:
    return f"{root}/health/{component}"


def job_topic(root: str, job: str) -> str:
    """Retained: a power-aware job's state and last result (docs/mqtt.md)."""
    return f"{root}/job/{job}"


def shedding_topic(root: str) -> str:
    """Retained: the PiBox's load-shedding level and why."""
    return f"{root}/power/shedding"


def event_topic(root: str, kind: str) -> str:
    """Not retained: one decision (a job started, deferred, stopped; a shedding step)."""
    return f"{root}/event/{kind}"


def report_topic(root: str, month: str) -> str:
    """Retained: the month's equipment-health summary (contract: `P/report/{YYYY-MM}`)."""
    return f"{root}/report/{month}"


def json_payload(body: Mapping[str, Any]) -> bytes:
    """Compact JSON for `P/alarm/...` and `P/health/...` bodies (built by their owners)."""
    return _dumps(body)


def _dumps(obj: Any) -> bytes:
    """Compact JSON that cannot fail: odd values (bytes, enums) become strings."""
    return json.dumps(_clean(obj), separators=(",", ":"), allow_nan=False, default=str).encode()


def _clean(value: Any) -> Any:
    """Whole floats as ints (`60` not `60.0`: bytes cost money) and NaN/inf as null.

    NaN is not JSON; a driver bug must not turn into an exception in the publisher.
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    elif isinstance(value, Mapping):
        return {str(key): _clean(item) for key, item in value.items()}
    elif isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def _clock(record: Record) -> str:
    return "synced" if record.clock_synced else "unsynced"


def telemetry_payload(record: Record, form: str = "json") -> bytes:
    """`P/telemetry/{device}`: one record, with its clock quality and how many samples it holds
    (`sample_count`: `samples` is history's list of records, one key must keep one type).
    `form` "compact": telemetry.compact's form instead."""
    if form == "compact":
        return _dumps(compact.live_body(record))
    return _dumps(
        {
            "ts": record.ts,
            "metrics": record.metrics,
            "clock": _clock(record),
            "sample_count": record.samples,
        }
    )


def history_payload(records: Iterable[Record], compress: bool, form: str = "json") -> bytes:
    """`P/history/{device}`: oldest first; gzip (fixed mtime: reproducible) if `compress`;
    `form` "compact": telemetry.compact's form."""
    if form == "compact":
        data = _dumps(compact.history_body(records))
    else:
        samples = [{"ts": r.ts, "metrics": r.metrics, "clock": _clock(r)} for r in records]
        data = _dumps({"samples": samples})
    return gzip.compress(data, compresslevel=9, mtime=0) if compress else data


def batch_payload(records: Sequence[Record], health: Sequence[HealthRow]) -> bytes:
    """`P/batch`: telemetry.compact's batch body, always gzip (fixed mtime: reproducible)."""
    data = _dumps(compact.batch_body(records, health))
    return gzip.compress(data, compresslevel=9, mtime=0)


def encode(message: Outgoing, root: str, telemetry: TelemetryConfig) -> tuple[str, bytes]:
    """The topic and payload of `message`: live, history and batch records in the contract's
    form (`telemetry.payload`); other messages carry their own."""
    records = message.records
    if message.kind == "live":
        return telemetry_topic(root, records[0].device), telemetry_payload(
            records[0], telemetry.payload
        )
    if message.kind == "history":
        return history_topic(root, records[0].device), history_payload(
            records, telemetry.compress_history, telemetry.payload
        )
    if message.kind == "batch":
        return batch_topic(root), batch_payload(records, message.health)
    return message.topic, message.payload


def device_state_payload(state: DeviceState) -> bytes:
    """`P/device/{device}`: the state's JSON shape with its `info` flattened into it.

    The contract puts product/serial/firmware next to `state` and `last_seen`; keys already at the
    top level win over `info`, so a device cannot overwrite `state` by naming a field "state".
    """
    flat = {key: value for key, value in state.to_dict().items() if key != "info"}
    for key, value in state.info.items():
        flat.setdefault(str(key), value)
    return _dumps(flat)


def decode_payload(payload: bytes) -> Any:
    """Read any edged JSON payload, gunzipping history first when it starts with the gzip magic."""
    if payload[:2] == GZIP_MAGIC:
        payload = gzip.decompress(payload)
    return json.loads(payload)


def history_batches(
    records: Sequence[Record], batch: int, max_messages: int, complete: bool
) -> list[list[Record]]:
    """Cut a slice of the backlog (oldest first) into at most `max_messages` history messages.

    Each message holds one device's records, at most `batch` of them, in id order; messages come
    out ordered by their oldest record, so each device's history is sent oldest first. When the
    slice is not `complete` (the outbox holds more), short batches are held back (the next sweep
    fills them instead of spending a message now), except the one holding the oldest record, so
    the oldest record always leaves first and no device waits behind a busier one.
    """
    open_by_device: dict[str, list[Record]] = {}
    batches: list[list[Record]] = []
    for record in records:
        current = open_by_device.get(record.device)
        if current is None or len(current) >= batch:
            current = []
            open_by_device[record.device] = current
            batches.append(current)
        current.append(record)
    if not complete:
        batches = [b for i, b in enumerate(batches) if i == 0 or len(b) >= batch]
    return batches[:max_messages]
