"""Hourly and daily rollups kept in SQLite (table `rollups`, schema v6), and pruning behind them.

Records are append-only and their ids only grow (the Writer hands them out in commit order), so
progress is a watermark: `roll_up` folds every record after the last one it rolled up, in id
order, carrying each device's `RollupState` (kept in `kv` under `rollups`, in the same
transaction as the rows). An hour whose records come late (committed after its hour was rolled
up, or stamped back into it by a clock jump) is continued from its stored row, so the rows are
exactly those of `rollups.rollup` over every record at once, however the work was cut up; a
re-run with nothing new changes nothing. The records after the last one stamped before the
current UTC hour wait for a later pass (the hour in progress); a record stamped in the future
that a clock correction left behind does not block the ones after it.
Daily rows are re-merged from the day's hourly rows whenever one of them changes.

`prune_records` deletes only records at or below the watermark (rolled up), through
`telemetry.pruning.prune` (its rules: never outbox records, never a device's newest record).
Call both on a read-write connection from `telemetry.store.open_db` (each batch is one short
transaction, like the Writer's). The SQL is `telemetry.rollup_rows`'; the rows' meaning is here.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable

from edged.readings import Record
from maintenance.report.rollups import (
    DAY,
    HOUR,
    Rollup,
    RollupState,
    from_rows,
    merge,
    rollup,
    to_rows,
)
from telemetry import rollup_rows
from telemetry.database import Database
from telemetry.pruning import prune

STATE_KEY = "rollups"
BATCH = 250
"""Records per pass and transaction: a first pass over a year of old records never holds much
memory nor the write lock for long. The daemon runs it: a decoded record and its share of the
fold cost ~5 KiB, and the heap a pass leaves fragmented is not given back to the system, so the
pass size sets the daemon's RSS after its first roll-up over a long history: over a week of two
devices, 1,000 a pass kept ~5 MB, 250 ~1 MB, for ~15 % more CPU time (bench/bench_memory.py)."""

_VERSION = b"\x01"
_ZDICT = (
    b"yield_yesterday max_power_yesterday max_power_today day_sequence charger_error load_on"
    b" relay_on alarm_on battery_cycles battery_soh battery_consumed_ah battery_time_to_go"
    b" battery_deepest_discharge_ah battery_last_discharge_ah battery_average_discharge_ah"
    b" battery_full_discharges battery_total_ah_drawn battery_voltage_min_seen"
    b" battery_voltage_max_seen battery_seconds_since_full battery_sync_count"
    b" battery_low_voltage_alarms battery_high_voltage_alarms energy_discharged_total"
    b" energy_charged_total battery_capacity cell_voltage_delta cell_count cell_voltage_min"
    b" cell_voltage_max battery_remaining_ah bms_temperature charge_enabled discharge_enabled"
    b" balancing system_power battery_starter_voltage battery_midpoint_voltage"
    b" battery_midpoint_deviation charger_temperature aux_low_voltage_alarms"
    b" aux_high_voltage_alarms aux_voltage_min_seen aux_voltage_max_seen monitor_mode"
    b" ac_out_voltage ac_out_current ac_out_apparent_power load_voltage load_energy_today"
    b" battery_voltage_2 battery_voltage_3 battery_current_2 battery_current_3 yield_total"
    b" yield_today pv_voltage pv_current load_current battery_power"
    b' "absorption" "equalize" "storage" "fault" "inverting" "off" "float" "bulk"'
    b' "soc_pieces":[["states":{"stats":{"sums":{"above40c_s":"below20_s":"below40_s":'
    b'"charge_kwh":"current_pairs":"discharge_ah":"discharge_kwh":"load_kwh":"pv_kwh":'
    b'"soc_drop_pct":"soc_pairs":"soc_seen_pairs":"temp_seen_pairs":'
    b'{"records":60,"unsynced":0,"samples":3600,"gaps":0,"clock_jumps":0,"covered_s":3600.0,'
    b'"stats":{"battery_current":[,"battery_soc":[,"battery_temperature":[,"battery_voltage":[,'
    b'"load_power":[,"pv_power":['
)
"""Preset deflate dictionary of the body's keys and the metric names (zlib `zdict`): a body is
too small to learn them itself. Frozen with `_VERSION`: bodies stored with it need it to
inflate, so a new dictionary means a new version byte, the old one kept beside it."""

_KEY = ("device", "start", "period_s")


def encode(row: dict) -> bytes:
    """A `to_rows` dict without its key, zero sums left out (`from_rows` restores them)."""
    body = {k: v for k, v in row.items() if k not in _KEY}
    body["sums"] = {k: v for k, v in row["sums"].items() if v}
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _ZDICT)
    data = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    return _VERSION + packer.compress(data) + packer.flush()


def decode(device: str, period_s: int, start: int, body: bytes) -> Rollup:
    if body[:1] != _VERSION:
        raise ValueError(f"rollup body version {body[:1]!r} unknown")
    data = zlib.decompressobj(-15, _ZDICT).decompress(body[1:])
    row = json.loads(data) | {"device": device, "period_s": period_s, "start": start}
    return from_rows([row])[0]


# --- progress: the watermark and each device's last record ----------------------------------


def load_state(db: Database) -> tuple[int, float | None, dict[str, RollupState]]:
    """(last record id rolled up, the hour boundary it was rolled up to, per-device state)."""
    saved = rollup_rows.saved_progress(db, STATE_KEY)
    if saved is None:  # nothing was ever rolled up
        return 0, None, {}
    raw = json.loads(saved)
    state = {
        device: RollupState(Record(device, ts, bool(synced), samples, metrics, id=rid), seg)
        for device, (rid, ts, synced, samples, metrics, seg) in raw["devices"].items()
    }
    return int(raw["id"]), float(raw["cutoff"]), state


def _progress(last_id: int, cutoff: float, state: dict[str, RollupState]) -> str:
    devices = {
        d: [
            s.last.id,
            s.last.ts,
            int(s.last.clock_synced),
            s.last.samples,
            s.last.metrics,
            s.segment_start,
        ]
        for d, s in sorted(state.items())
    }
    return json.dumps({"id": last_id, "cutoff": cutoff, "devices": devices}, separators=(",", ":"))


# --- reading and writing rows ------------------------------------------------------------------


def stored(db: Database, start: float, end: float, period_s: int = HOUR) -> list[Rollup]:
    """Stored rollups of `period_s` with start <= bucket start < end, by (device, start)."""
    rows = rollup_rows.rows_between(db, start, end, period_s)
    return sorted((decode(*r) for r in rows), key=lambda r: (r.device, r.start))


def _stored_keys(db: Database, keys: Iterable[tuple[str, int]], period_s: int) -> list[Rollup]:
    out = []
    for device, start in keys:
        row = rollup_rows.row_at(db, device, start, period_s)
        if row is not None:
            out.append(decode(*row))
    return out


def _rows(rollups: Iterable[Rollup]) -> list[rollup_rows.Row]:
    return [(r["device"], r["period_s"], r["start"], encode(r)) for r in to_rows(rollups)]


def _days(db: Database, hourly: list[Rollup]) -> list[Rollup]:
    """The daily rows of the days these hours are in: every stored hour of those days, these
    (new or continued) hours in place of theirs, merged."""
    fresh = {(r.device, r.start): r for r in hourly}
    out = []
    for device, day in sorted({(r.device, r.start // DAY * DAY) for r in hourly}):
        rows = rollup_rows.device_rows_between(db, device, day, day + DAY, HOUR)
        hours = {(r.device, r.start): r for r in (decode(*row) for row in rows)}
        hours |= {k: r for k, r in fresh.items() if k[0] == device and day <= k[1] < day + DAY}
        out += merge(list(hours.values()), DAY)
    return out


def pending(db: Database, after_id: int, upto_id: float = float("inf")) -> list[Record]:
    """Records with after_id < id <= upto_id, in id (stored) order."""
    return rollup_rows.records_after(db, after_id, upto_id)


def continue_rollup(
    db: Database, records: list[Record], state: dict[str, RollupState], interval_s: float
) -> tuple[list[Rollup], dict[str, RollupState]]:
    """Hourly rows of the hours `records` touch, continuing their stored rows, and the state."""
    keys = {(r.device, int(r.ts // HOUR) * HOUR) for r in records}
    return rollup(records, interval_s=interval_s, state=state, into=_stored_keys(db, keys, HOUR))


def roll_up(db: Database, now: float, interval_s: float, batch: int = BATCH) -> int:
    """Roll up every stored record stamped before the current UTC hour; returns how many."""
    cutoff = now // HOUR * HOUR
    last_id, _, state = load_state(db)
    total = 0
    while True:
        upto, seen = rollup_rows.next_batch(db, last_id, cutoff, batch)
        if upto is None:
            return total
        chunk = pending(db, last_id, upto)
        # Computed before the transaction (only this function writes rollups): the write lock
        # is held for the writes alone, never long enough to make the Writer wait.
        hourly, state = continue_rollup(db, chunk, state, interval_s)
        daily = _days(db, hourly)
        last_id = chunk[-1].id or last_id
        rollup_rows.save(db, _rows([*hourly, *daily]), STATE_KEY, _progress(last_id, cutoff, state))
        total += len(chunk)
        if seen < batch:
            return total


def prune_records(db: Database, before: float, batch: int = 500) -> int:
    """Prune the records older than `before` that are rolled up (telemetry.pruning.prune's rules);
    returns how many went. Records after the watermark bound it: all of them are kept."""
    last_id, _, _ = load_state(db)
    if not last_id:
        return 0
    first_pending = rollup_rows.oldest_after(db, last_id)
    bound = before if first_pending is None else min(before, first_pending)
    return prune(db, samples_before=float("-inf"), records_before=bound, batch=batch)
