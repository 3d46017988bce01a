"""Read one MQTT message a site published (docs/mqtt.md) into typed items for the database.

Pure: no client, socket, clock or database. `parse()` never raises on what a peer sends: a message
it cannot read comes back as `Rejected` with the reason, which the collector stores and counts.
Unknown keys are kept (in the jsonb `payload` columns) and never an error, because the daemon's
payloads may gain fields. A string holding NUL is rejected here: PostgreSQL cannot store it, and
a batch must not fail in the database for what a parser can see.

The site id and the device, alarm, component, job or month come from the topic,
`{prefix}/{site}/{kind}/{rest}`; the wire format is the contract, so nothing is imported from
the daemon's packages.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import zlib
from typing import Any

from fleet import compact
from fleet.items import (
    Alarm,
    CommandResult,
    DeviceState,
    Event,
    Health,
    Ignored,
    Item,
    Job,
    JobResult,
    Record,
    Rejected,
    Report,
    Shedding,
    Status,
)

GZIP_MAGIC = b"\x1f\x8b"
# a history message holds at most a few hundred records (~100 KB of JSON); far more is an attack
MAX_JSON_BYTES = 16 * 1024 * 1024
# 1970..2100: anything outside is not a time a Pi can have, even unsynced
MIN_TS, MAX_TS = 0.0, 4102444800.0
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class _Bad(Exception):
    """Internal: why a message is rejected; never leaves this module."""


def parse(topic: str, payload: bytes, prefix: str) -> list[Item] | Rejected | Ignored:
    """The items one message carries, or why it is rejected or ignored."""
    try:
        return _parse(topic, payload, prefix)
    except _Bad as exc:
        return Rejected(str(exc))


def _parse(topic: str, payload: bytes, prefix: str) -> list[Item] | Ignored:
    site, kind, rest = _split_topic(topic, prefix)
    if kind == "status":
        _no_rest(kind, rest)
        if payload in (b"online", b"offline"):
            return [Status(site, payload == b"online")]
        raise _Bad(f"status: expected 'online' or 'offline', got {payload[:40]!r}")
    if not payload and kind in ("device", "alarm", "job", "power", "report"):
        return Ignored("empty retained payload")
    if kind == "cmd" and "/" not in rest:
        # the centre's own command to the site, seen again through the shared subscription
        return Ignored("command to a site")
    body = _json(payload, allow_gzip=kind in ("history", "batch"))
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise _Bad(f"unknown topic kind {kind!r}")
    return handler(site, rest, body)


def _split_topic(topic: str, prefix: str) -> tuple[str, str, str]:
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        raise _Bad(f"topic outside prefix {prefix!r}")
    parts = topic[len(head) :].split("/", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise _Bad("topic has no site or kind")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def _no_rest(kind: str, rest: str) -> None:
    if rest:
        raise _Bad(f"{kind}: unexpected topic level {rest!r}")


def _name(kind: str, rest: str) -> str:
    if not rest or "/" in rest:
        raise _Bad(f"{kind}: expected one topic level after {kind!r}, got {rest!r}")
    return rest


def _reject_constant(name: str) -> Any:
    raise _Bad(f"not JSON: {name}")


def _json(payload: bytes, allow_gzip: bool) -> Any:
    if payload[:2] == GZIP_MAGIC:
        if not allow_gzip:
            raise _Bad("gzip payload on a topic that is never compressed")
        payload = _gunzip(payload)
    if len(payload) > MAX_JSON_BYTES:
        raise _Bad(f"payload of {len(payload)} bytes is over {MAX_JSON_BYTES}")
    try:
        body = json.loads(payload, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise _Bad(f"not JSON: {str(exc)[:120]}") from None
    _check_values(body)
    return body


def _gunzip(payload: bytes) -> bytes:
    """Decompress with a ceiling: a small gzip bomb must not take the collector's memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(payload, MAX_JSON_BYTES + 1)
    except zlib.error as exc:
        raise _Bad(f"bad gzip: {exc}") from None
    if len(data) > MAX_JSON_BYTES:
        raise _Bad(f"gzip expands past {MAX_JSON_BYTES} bytes")
    if not inflater.eof:
        raise _Bad("bad gzip: truncated")
    if inflater.unused_data:
        # several gzip members are legal; the daemon never writes them, but read them anyway
        try:
            data += gzip.decompress(inflater.unused_data)
        except (OSError, EOFError, zlib.error) as exc:
            raise _Bad(f"bad gzip: {exc}") from None
    return data


def _check_values(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise _Bad("string with a NUL character")
        elif isinstance(item, float):
            if not math.isfinite(item):  # 1e999 parses as inf, which jsonb cannot hold
                raise _Bad("number out of range")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _object(kind: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _Bad(f"{kind}: expected a JSON object, got {type(body).__name__}")
    return body


def _number(kind: str, key: str, value: Any, required: bool = True) -> float | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Bad(f"{kind}: {key} is not a number: {str(value)[:40]!r}")
    return float(value)


def _ts(kind: str, key: str, value: Any, required: bool = True) -> float | None:
    number = _number(kind, key, value, required)
    if number is not None and not MIN_TS <= number < MAX_TS:
        raise _Bad(f"{kind}: {key} {number!r} is outside 1970..2100")
    return number


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _record(kind: str, site: str, device: str, body: Any, live: bool) -> Record:
    body = _object(kind, body)
    ts = _ts(kind, "ts", body.get("ts"))
    metrics = body.get("metrics")
    if not isinstance(metrics, dict):
        raise _Bad(f"{kind}: metrics is not an object")
    samples = _sample_count(kind, body)
    assert ts is not None
    return Record(site, device, ts, metrics, body.get("clock") == "synced", samples, live)


def _compact_record(kind: str, site: str, device: str, body: Any, live: bool) -> Record:
    """One record of the compact form (fleet.compact): `t`, `c` 1/0, `n` (live), `m`."""
    body = _object(kind, body)
    ts = _ts(kind, "t", body.get("t"))
    try:
        metrics = compact.metrics(kind, body.get("m"))
    except compact.Bad as exc:
        raise _Bad(str(exc)) from None
    samples = _count(kind, "n", body.get("n"))
    assert ts is not None
    return Record(site, device, ts, metrics, body.get("c") == 1, samples, live)


def _compact_version(body: dict[str, Any]) -> None:
    try:
        compact.version(body)
    except compact.Bad as exc:
        raise _Bad(str(exc)) from None


def _sample_count(kind: str, body: dict[str, Any]) -> int | None:
    """How many samples a record folds in: `sample_count`, or `samples` from an edged before
    issue 13 (a count on telemetry then, where history's `samples` is the list of records).
    Sites are upgraded one by one, so both forms arrive for months; the new key wins."""
    key = "sample_count" if "sample_count" in body else "samples"
    return _count(kind, key, body.get(key))


def _count(kind: str, key: str, count: Any) -> int | None:
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        raise _Bad(f"{kind}: {key} is not an integer")
    if count is not None and not 0 <= count < 2**31:
        raise _Bad(f"{kind}: {key} {count} out of range")
    return count


def _telemetry(site: str, rest: str, body: Any) -> list[Item]:
    device = _name("telemetry", rest)
    if isinstance(body, dict) and "v" in body:
        _compact_version(body)
        return [_compact_record("telemetry", site, device, body, live=True)]
    return [_record("telemetry", site, device, body, live=True)]


def _history(site: str, rest: str, body: Any) -> list[Item]:
    device = _name("history", rest)
    body = _object("history", body)
    if "v" in body:
        _compact_version(body)
        samples = body.get("s")
        if not isinstance(samples, list):
            raise _Bad("history: s is not a list")
        return [_compact_record("history", site, device, r, live=False) for r in samples]
    samples = body.get("samples")
    if not isinstance(samples, list):
        raise _Bad("history: samples is not a list")
    return [_record("history", site, device, sample, live=False) for sample in samples]


def _batch(site: str, rest: str, body: Any) -> list[Item]:
    """`P/batch` (frugal mode): `{"v":1,"r":{device:[compact record,...]},"h":{component:
    [health body,...]}}`, each read as its own topic would be."""
    _no_rest("batch", rest)
    body = _object("batch", body)
    _compact_version(body)
    by_device, by_component = body.get("r", {}), body.get("h", {})
    if not isinstance(by_device, dict) or not isinstance(by_component, dict):
        raise _Bad("batch: r and h must be objects")
    items: list[Item] = []
    for device, records in by_device.items():
        items += _history(site, device, {"v": body["v"], "s": records})
    for component, rows in by_component.items():
        if not isinstance(rows, list):
            raise _Bad("batch: h holds a list per component")
        for row in rows:
            items += _health(site, component, row)
    return items


def _device(site: str, rest: str, body: Any) -> list[Item]:
    body = _object("device", body)
    last_seen = _ts("device", "last_seen", body.get("last_seen"), required=False)
    return [
        DeviceState(
            site,
            _name("device", rest),
            _text(body.get("state")),
            last_seen,
            _text(body.get("product")),
            _text(body.get("serial")),
            _text(body.get("firmware")),
            body,
        )
    ]


def _alarm(site: str, rest: str, body: Any) -> list[Item]:
    body = _object("alarm", body)
    active = body.get("active")
    if not isinstance(active, bool):
        raise _Bad("alarm: active is not true or false")
    since = _ts("alarm", "since", body.get("since"), required=False)
    cleared = _ts("alarm", "cleared", body.get("cleared"), required=False)
    at = since if active else (cleared if cleared is not None else since)
    if at is None:
        raise _Bad("alarm: neither since nor cleared")
    return [Alarm(site, _name("alarm", rest), active, at, since, cleared, body)]


def _health(site: str, rest: str, body: Any) -> list[Item]:
    body = _object("health", body)
    ts = _ts("health", "ts", body.get("ts"))
    assert ts is not None
    ok = body.get("ok")
    values = body.get("values")
    return [
        Health(
            site,
            _name("health", rest),
            ts,
            ok if isinstance(ok, bool) else None,
            _text(body.get("detail")),
            values if isinstance(values, dict) else None,
        )
    ]


def _job_result(site: str, job: str, run: Any) -> JobResult | None:
    if not isinstance(run, dict) or run.get("started") is None:
        return None
    exit_code = run.get("exit_code")
    return JobResult(
        site,
        job,
        _ts("job", "started", run.get("started")) or 0.0,
        _ts("job", "ended", run.get("ended"), required=False),
        _text(run.get("outcome")),
        exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
        _number("job", "duration_s", run.get("duration_s"), required=False),
        run,
    )


def _job(site: str, rest: str, body: Any) -> list[Item]:
    body = _object("job", body)
    job = _name("job", rest)
    progress = _number("job", "progress", body.get("progress"), required=False)
    items: list[Item] = [
        Job(site, job, _text(body.get("kind")), _text(body.get("state")), progress, body)
    ]
    result = _job_result(site, job, body.get("last"))
    if result is not None:
        items.append(result)
    return items


def _shedding(site: str, rest: str, body: Any) -> list[Item]:
    if rest != "shedding":
        raise _Bad(f"power: unknown topic level {rest!r}")
    body = _object("shedding", body)
    since = _ts("shedding", "since", body.get("since"), required=False)
    return [Shedding(site, _text(body.get("level")), since, _text(body.get("code")), body)]


def _event(site: str, rest: str, body: Any) -> list[Item]:
    kind = _name("event", rest)
    body = _object("event", body)
    digest = hashlib.md5(json.dumps(body, sort_keys=True).encode(), usedforsecurity=False)
    items: list[Item] = [Event(site, kind, digest.hexdigest(), body)]
    if kind == "job" and body.get("action") == "end" and isinstance(body.get("job"), str):
        result = _job_result(site, body["job"], body)
        if result is not None:
            items.append(result)
    return items


def _report(site: str, rest: str, body: Any) -> list[Item]:
    month = _name("report", rest)
    if not MONTH.match(month):
        raise _Bad(f"report: {month!r} is not a YYYY-MM month")
    return [Report(site, month, _object("report", body))]


def _command_result(site: str, rest: str, body: Any) -> list[Item]:
    name, _, tail = rest.partition("/")
    if not name or tail != "result":
        raise _Bad(f"cmd: expected cmd/{{name}}/result, got {rest!r}")
    body = _object("cmd result", body)
    command_id = body.get("id")
    if not isinstance(command_id, str) or not 0 < len(command_id) <= 100:
        raise _Bad("cmd result: id is not a string of 1..100 characters")
    ok = body.get("ok")
    return [CommandResult(site, name, command_id, ok if isinstance(ok, bool) else None, body)]


_HANDLERS = {
    "telemetry": _telemetry,
    "history": _history,
    "batch": _batch,
    "device": _device,
    "alarm": _alarm,
    "health": _health,
    "job": _job,
    "power": _shedding,
    "event": _event,
    "report": _report,
    "cmd": _command_result,
}
