"""Merges the several text blocks a device sends per cycle into one record. Pure.

Follows the VE.Direct protocol: a BMV/SmartShunt sends a main block then an `H1..H18`
history block; newer MPPTs (with `FWE`) send `PID..OR` then `ERR..HSDS`; older ones send a
single block. Rather than hard-code those splits per model, a cycle ends when a block repeats a
label already gathered: the device has started over. The cost is that a record leaves one
block later (about a second), which is well inside any staleness budget.
"""

from __future__ import annotations

Fields = tuple[tuple[str, str], ...]

MAX_BLOCKS = 4
"""No known device splits a cycle into more blocks; more means labels never repeat (odd device)."""


class BlockAssembler:
    """Accumulates consecutive valid blocks; `add` returns records (field tuples) that completed."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}
        self._blocks = 0

    def add(self, fields: Fields) -> list[Fields]:
        """Add one block; return the previous record if this block begins a new cycle."""
        done: list[Fields] = []
        if self._blocks and (
            self._blocks >= MAX_BLOCKS or any(k in self._fields for k, _ in fields)
        ):
            done = self.flush()
        for label, value in fields:
            self._fields.setdefault(label, value)  # a label repeated inside one block: keep first
        self._blocks += 1
        return done

    def flush(self) -> list[Fields]:
        """Emit what has been gathered (if anything) and start afresh."""
        if not self._blocks:
            return []
        record = tuple(self._fields.items())
        self._fields.clear()
        self._blocks = 0
        return [record]
