"""How a record's metrics are stored (`records.metrics`, schema v8), and read back as a `Record`.

Why: a record's metrics as JSON keyed by name were ~460 B each, and the simulated site stores
~10,000 records a day: the largest part of what every commit appends to the WAL on the SD card.
Since v8 the column holds a BLOB: one format byte, then the metrics as compact JSON keyed by the
short codes of the MQTT contract's table (`telemetry.compact.KEYS_V1`, append-only, so a code
names one metric for good), deflated against a preset dictionary (`ZDICT`) of what such JSON
holds. Values are kept exactly as measured (not scaled to the contract's resolution): the record
read back is the record published live, so one `(device, ts)` carries one content
(docs/mqtt.md). A name outside the table is kept whole; one that looks like a code or starts
with `ESCAPE` is prefixed with `ESCAPE`, so no name ever reads back as another.

Readers decode through `metrics_of` (and `decode_row`, `records_from_rows` for whole rows);
SQL reads through `metrics_json(metrics)`, registered on every connection
(`telemetry.database.Database`), which gives the JSON keyed by name that the column held before
v8, so aggregates such as the PV profile (`telemetry.pv_hours`) stay in SQLite. Rows written
before v8 (JSON text) read the same way, so a database whose conversion was cut short by a power
cut is whole (`telemetry.metrics_migration` finishes it).

A stored value that does not decode (truncated, not deflate, deflate of garbage, a flipped bit
the page checks do not see) is never raised to a reader that did not ask for it: rows are left
out, logged and counted (`damaged`), and `metrics_json` gives NULL. Its row stays on the card.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from edged.readings import Record
from telemetry.compact import CODES

log = logging.getLogger(__name__)

FORMAT = b"\x01"
"""First byte of a stored value: raw deflate (no zlib header) of code-keyed JSON, `ZDICT`."""
ESCAPE = "~"
MAX_JSON = 1 << 20
"""Most bytes a stored value may inflate to: a record's JSON is a few hundred bytes, and a
damaged value must not make a reader allocate without bound."""

ZDICT = (
    b'"charger_error_name":"device_mode":"tracker_mode":"charger_off_reason":"alarm_reason":'
    b'"warning_reason":"battery_alarms":"off","absorption","float","equalize","bulk",'
    b'"fault","inverting","none","mppt","voltage_or_current_limited",'
    b'"1e":"1g":"1k":"1p":"1q":"1r":"1s":"1t":"1u":"1z":"10":"11":"12":"13":"14":"15":"16":"17":'
    b'"18":"19":"1a":"1b":"1c":"1d":"1f":"1h":"1i":"1j":"1l":"1m":"1n":"1o":"1v":"1w":"1x":"1y":'
    b'"20":"21":"22":"23":"n":"o":"p":"q":"r":"s":"t":"u":"v":"w":"x":"y":"z":"5":"6":"7":"8":'
    b'"9":"a":"i":"k":"l":"m":0,"g":1,"h":0.0,"j":1234.5,"e":1.2,"f":15,"b":18.5,"c":2.5,"d":4'
    b'{"0":12.8,"1":-1.2,"2":-15,"3":87.5,"4":25.0,'
)
"""Preset dictionary of format 1: the codes, the text values and a typical record's start. Fixed
for good (a stored value depends on it): a better one is a new format byte."""

_CODE_OF = {name: code for name, (code, _) in CODES.items()}
_NAME_OF = {code: name for name, code in _CODE_OF.items()}

damaged = 0
"""Stored records left out by a reader of this process because they did not decode."""
_last_json: tuple[object, str | None] = (None, None)
"""`metrics_json`'s last (argument, answer): a query calls it several times on one row."""


class DamagedMetrics(ValueError):
    """A stored `records.metrics` value that does not decode."""


def encode(metrics: Mapping[str, Any]) -> bytes:
    """The stored form of a record's metrics (values the JSON encoder cannot write as text)."""
    keyed = {key_of(name): value for name, value in metrics.items()}
    return FORMAT + deflate(json.dumps(keyed, separators=(",", ":"), default=str).encode())


def deflate(data: bytes) -> bytes:
    """Raw deflate of `data` against `ZDICT` (also sample blocks' format 2, `telemetry.samples`)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, ZDICT)
    return compressor.compress(data) + compressor.flush()


def inflate(data: bytes) -> bytes:
    """What `deflate` made `data` from; raises `DamagedMetrics` when it did not make it."""
    decompressor = zlib.decompressobj(-15, ZDICT)
    try:
        text = decompressor.decompress(data, MAX_JSON)
    except zlib.error as exc:
        raise DamagedMetrics(f"not deflate ({exc})") from exc
    if not decompressor.eof or decompressor.unconsumed_tail or decompressor.unused_data:
        raise DamagedMetrics("truncated, too long or followed by other bytes")
    return text


def key_of(name: str) -> str:
    """The key a metric is stored under: its code, else its name (escaped if it looks like one)."""
    code = _CODE_OF.get(name)
    if code is not None:
        return code
    return ESCAPE + name if name in _NAME_OF or name.startswith(ESCAPE) else name


def metrics_of(stored: object) -> dict[str, Any]:
    """The metrics, keyed by name, of a stored `records.metrics` value (v8 BLOB or older JSON
    text); raises `DamagedMetrics` when it does not decode."""
    if isinstance(stored, str):
        return _json_object(stored)
    if not isinstance(stored, bytes) or stored[:1] != FORMAT:
        raise DamagedMetrics(f"not a stored metrics value: {stored!r:.40}")
    text = inflate(stored[1:])
    return {name_of(k): v for k, v in _json_object(text).items()}


def name_of(key: str) -> str:
    """The metric a stored key names (`key_of` undone)."""
    return _NAME_OF.get(key, key[1:] if key.startswith(ESCAPE) else key)


def _json_object(text: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise DamagedMetrics(f"not JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise DamagedMetrics(f"not an object: {value!r:.80}")
    return value


def metrics_json(stored: object) -> str | None:
    """SQL `metrics_json(records.metrics)`: the metrics as JSON keyed by name, NULL when damaged.

    Never raises: an exception in a SQL function fails the whole query it is in."""
    global damaged, _last_json
    if isinstance(stored, str):
        return stored  # before v8: already the JSON (SQL's json_valid judges it)
    last = _last_json  # one read: another connection's thread may replace it
    if stored is not None and stored == last[0]:
        return last[1]
    try:
        text: str | None = json.dumps(metrics_of(stored), separators=(",", ":"), default=str)
    except Exception:  # noqa: BLE001 - a reader's query must survive any stored value
        damaged += 1
        text = None
    _last_json = (stored, text)
    return text


def register(conn: sqlite3.Connection) -> None:
    """Make `metrics_json` callable from SQL on `conn`."""
    conn.create_function("metrics_json", 1, metrics_json, deterministic=True)


RECORD_COLUMNS = (
    "records.id, records.device, records.ts, records.synced, records.samples, records.metrics"
)


def decode_row(row: tuple) -> Record | str:
    """The `Record` of a `RECORD_COLUMNS` row, or why it is not one (a damaged page reads as
    anything: text for a number, metrics that do not decode)."""
    rid, device, ts, synced, samples, stored = row
    if not isinstance(device, str) or type(ts) not in (int, float) or type(samples) is not int:
        return f"bad columns: device={device!r} ts={ts!r} samples={samples!r}"
    try:
        values = metrics_of(stored)
    except DamagedMetrics as exc:
        return f"metrics: {exc}"
    return Record(device, float(ts), bool(synced), samples, values, id=rid)


def records_from_rows(rows: Iterable[tuple]) -> list[Record]:
    """The records of `RECORD_COLUMNS` rows, leaving out (logged, counted in `damaged`) those
    that do not decode: one damaged row must not stop a report, a roll-up or `edged status`."""
    global damaged
    found = []
    for row in rows:
        record = decode_row(row)
        if isinstance(record, Record):
            found.append(record)
        else:
            damaged += 1
            log.warning("stored record %r unreadable, left out: %s", row[0], record)
    return found


def record_from_row(row: tuple) -> Record:
    """The `Record` of one `RECORD_COLUMNS` row; raises `DamagedMetrics` when it does not decode."""
    record = decode_row(row)
    if isinstance(record, str):
        raise DamagedMetrics(record)
    return record
