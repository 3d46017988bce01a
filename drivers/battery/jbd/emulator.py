"""A JBD BMS on a pseudo-terminal: answers 0x03 and 0x04 like a 4S LiFePO4 pack.

Values are settable through `state`; the payloads are built from them with the same byte
layout `fields.py` reads (so this proves the driver's plumbing, not the tables: captures do that).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from drivers.battery.jbd.codec import BASIC_INFO, CELL_VOLTAGES, build_request, encode_response
from drivers.battery.ptyemu import PtyEmulator


@dataclass
class PackState:
    voltage: float = 13.24
    current: float = 5.5
    remaining_ah: float = 80.0
    capacity_ah: float = 100.0
    cycles: int = 17
    soc: int = 80
    protection: int = 0
    fet: int = 0x03
    cells_mv: list[int] = field(default_factory=lambda: [3310, 3312, 3305, 3313])
    temps_c: list[float] = field(default_factory=lambda: [29.0, 25.0, 26.0])
    """NTCs in wire order: with two or more, the first is the MOSFET (as on the captured pack)."""


def basic_payload(s: PackState) -> bytes:
    head = struct.pack(
        ">HhHHHHHHHBBBBB",
        round(s.voltage * 100),
        round(s.current * 100),
        round(s.remaining_ah * 100),
        round(s.capacity_ah * 100),
        s.cycles,
        (24 << 9) | (5 << 5) | 17,
        0,
        0,
        s.protection,
        0x80,
        s.soc,
        s.fet,
        len(s.cells_mv),
        len(s.temps_c),
    )
    return head + b"".join(struct.pack(">H", round(t * 10) + 2731) for t in s.temps_c)


class PtyBmsEmulator(PtyEmulator):
    def __init__(self, state: PackState | None = None) -> None:
        self.state = state or PackState()
        requests = {build_request(r): r for r in (BASIC_INFO, CELL_VOLTAGES)}
        super().__init__(requests, self._respond)

    def _respond(self, register: object) -> bytes:
        if register == BASIC_INFO:
            return encode_response(BASIC_INFO, basic_payload(self.state))
        cells = b"".join(struct.pack(">H", mv) for mv in self.state.cells_mv)
        return encode_response(CELL_VOLTAGES, cells)
