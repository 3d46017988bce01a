"""Rows SQLite rejects, set aside so they never block the batch they came in.

`store.write` writes the rows other parts hand the Writer (device states, `put_row`s) one by one;
one that SQLite refuses (a value it cannot bind, a constraint it breaks) is skipped and told
here. It is kept, with its reason, in `<db>.quarantine` (one JSON object a line) only once the
commit that skipped it succeeds: a failed commit is retried whole and would skip it again, so
what a failed commit collected is forgotten. The daemon never reads the file back; it is for the
technician, and the count is in the Writer's stats (`quarantined`).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


class Quarantine:
    """The rejected rows of the pending commit, and the file they are kept in once it succeeds."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".quarantine")
        self._pending: list[dict[str, object]] = []

    def __call__(self, kind: str, params: object, exc: BaseException) -> None:
        """`store.write`'s hook: a row of `kind` SQLite rejected with `exc`."""
        self._pending.append(
            {"ts": time.time(), "kind": kind, "reason": repr(exc), "params": repr(params)}
        )

    def forget(self) -> None:
        """The commit failed: its retry meets (and reports) the same rows again."""
        self._pending.clear()

    def keep(self) -> int:
        """The commit succeeded: append its rejected rows to the file; how many there were."""
        if not self._pending:
            return 0
        rows, self._pending = self._pending, []
        log.warning(
            "%d row(s) rejected by SQLite set aside in %s, first: %r",
            len(rows),
            self.path.name,
            rows[0],
        )
        try:
            with self.path.open("a", encoding="utf-8") as out:
                out.writelines(json.dumps(row) + "\n" for row in rows)
        except OSError as exc:
            log.error("cannot keep the rejected rows in %s: %s", self.path, exc)
        return len(rows)
