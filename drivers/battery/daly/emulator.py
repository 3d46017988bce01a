"""A Daly BMS (A5 protocol) on a pseudo-terminal: an 8-cell LiFePO4 pack, settable via `state`.

Payloads use the layout `fields.py` reads (plumbing, not proof: captures are the authority).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from drivers.battery.daly import codec
from drivers.battery.daly.codec import build_request, encode_response
from drivers.battery.ptyemu import PtyEmulator


@dataclass
class PackState:
    voltage: float = 26.4
    current: float = -7.5  # + = charging, on the wire (raw − 30000) / 10
    soc: float = 76.5
    cells_mv: list[int] = field(
        default_factory=lambda: [3301, 3305, 3298, 3310, 3302, 3299, 3304, 3307]
    )
    temp_max: int = 27
    temp_min: int = 24
    remaining_mah: int = 76500
    cycles: int = 12
    failures: int = 0  # the 0x98 bitmap, byte 0 bit 0 first


def _payloads(s: PackState) -> dict[int, bytes]:
    lo, hi = min(s.cells_mv), max(s.cells_mv)
    n = len(s.cells_mv)
    return {
        codec.SOC_VOLTAGE_CURRENT: struct.pack(
            ">HHHH", round(s.voltage * 10), 0, round(s.current * 10) + 30000, round(s.soc * 10)
        ),
        codec.CELL_MIN_MAX: struct.pack(
            ">HBHB", hi, s.cells_mv.index(hi) + 1, lo, s.cells_mv.index(lo) + 1
        ),
        codec.TEMPERATURES: bytes([s.temp_max + 40, 1, s.temp_min + 40, 2]),
        codec.MOS_STATUS: bytes([2 if s.current < 0 else 1, 1, 1, 0])
        + struct.pack(">I", s.remaining_mah),
        codec.STATUS_INFO: bytes([n, 2, 0, 1, 0]) + struct.pack(">H", s.cycles),
        codec.FAILURES: s.failures.to_bytes(7, "little"),
    }


def _cell_frames(cells_mv: list[int]) -> bytes:
    out = b""
    for k in range(0, len(cells_mv), 3):
        group = (cells_mv[k : k + 3] + [0, 0])[:3]
        out += encode_response(
            codec.CELL_VOLTAGES, bytes([k // 3 + 1]) + struct.pack(">HHH", *group)
        )
    return out


class PtyBmsEmulator(PtyEmulator):
    COMMANDS = (*_payloads(PackState()), codec.CELL_VOLTAGES)

    def __init__(self, state: PackState | None = None, board: int = 1) -> None:
        self.state = state or PackState()
        super().__init__({build_request(c, board): c for c in self.COMMANDS}, self._respond)

    def _respond(self, command: object) -> bytes:
        if command == codec.CELL_VOLTAGES:
            return _cell_frames(self.state.cells_mv)
        return encode_response(int(command), _payloads(self.state)[command])  # type: ignore[arg-type]
