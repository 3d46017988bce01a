"""Read side of the outbox: which stored records the broker has not acknowledged yet.

Deleting is the Writer's job (`Writer.ack`), after the publisher saw the PUBACK; this module
never writes.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from edged.readings import Record
from telemetry.database import Database
from telemetry.store import RECORD_COLUMNS, record_from_row


def pending(
    db: Database,
    limit: int,
    *,
    after_id: int = 0,
    upto_id: int | None = None,
    exclude: Collection[int] = (),
    damaged: list[int] | None = None,
) -> list[Record]:
    """Unacknowledged records, oldest first, skipping `exclude` (those already in flight).

    A record whose stored metrics no longer decode (a flipped bit on the card that SQLite's
    page checks do not see) is left out, its id appended to `damaged` when given: one bad row
    must never stop the sweep of every later one."""
    sql = (
        f"SELECT {RECORD_COLUMNS} FROM outbox JOIN records ON records.id = outbox.record_id "
        "WHERE outbox.record_id > ?"
    )
    params: list = [after_id]
    if upto_id is not None:
        sql += " AND outbox.record_id <= ?"
        params.append(upto_id)
    if exclude:  # one JSON parameter: a long drain's in-flight set may pass SQLite's limit
        sql += " AND outbox.record_id NOT IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(list(exclude)))
    sql += " ORDER BY outbox.record_id LIMIT ?"
    params.append(limit)
    records = []
    for row in db.execute(sql, params).fetchall():
        try:
            records.append(record_from_row(row))
        except (ValueError, TypeError):  # json.JSONDecodeError is a ValueError
            if damaged is not None:
                damaged.append(row[0])
    return records


def count(db: Database) -> int:
    return db.execute("SELECT count(*) FROM outbox").fetchone()[0]
