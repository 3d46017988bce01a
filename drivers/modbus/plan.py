"""Pure read planning: group a map's registers into as few Modbus requests as the device allows.

Every request costs a round trip (and on RS485, bus time shared with other slaves), so a poll
should be a handful of block reads, not one per value. The map says how far that may go:
`max_registers` per request and `max_gap` unused registers that may be read through (some
devices, like a GX, answer an exception when a request touches an address they do not serve).
A register is never split across requests, and one request never mixes function codes. A row
marked `alone` (a register older firmware does not serve) gets a request of its own.
The same rules plan the once-per-connection `[[info]]` reads (`rows=rmap.info`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .regmap import InfoRegister, Register, RegisterMap

Row = Register | InfoRegister


@dataclass(frozen=True, slots=True)
class Block:
    """One read request: `count` registers from `address` with `function`."""

    function: int
    address: int
    count: int
    registers: tuple[Row, ...]

    @property
    def end(self) -> int:
        return self.address + self.count


def plan(
    rmap: RegisterMap,
    max_registers: int | None = None,
    max_gap: int | None = None,
    rows: Sequence[Row] | None = None,
) -> list[Block]:
    """Blocks covering `rows` (default: every `[[register]]` of `rmap`) within the map's request
    limits, ordered by function code then address."""
    limit = max_registers or rmap.max_registers
    gap = rmap.max_gap if max_gap is None else max_gap
    blocks: list[Block] = []
    for reg in sorted(
        rmap.registers if rows is None else rows, key=lambda r: (r.function, r.address)
    ):
        last = blocks[-1] if blocks else None
        end = reg.address + reg.width
        if (
            last is not None
            and not getattr(reg, "alone", False)
            and not any(getattr(r, "alone", False) for r in last.registers)
            and last.function == reg.function
            and reg.address - last.end <= gap
            and end - last.address <= limit
        ):
            blocks[-1] = Block(
                last.function,
                last.address,
                max(last.end, end) - last.address,
                (*last.registers, reg),
            )
        else:
            blocks.append(Block(reg.function, reg.address, reg.width, (reg,)))
    return blocks
