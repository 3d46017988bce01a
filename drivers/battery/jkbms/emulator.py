"""A JK BMS on a pseudo-terminal: answers read-all like an 8S LiFePO4 pack, settable via `state`.

The answer uses the id layout `fields.py` reads (plumbing, not proof: captures are the
authority), with protocol version 1 (sign-bit current) unless `state.version` says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.battery.jkbms.codec import CELLS, READ_ALL, build_request, encode_response
from drivers.battery.ptyemu import PtyEmulator


@dataclass
class PackState:
    cells_mv: list[int] = field(
        default_factory=lambda: [3320, 3322, 3319, 3325, 3321, 3318, 3324, 3323]
    )
    mos_c: int = 31
    box_c: int = 27
    battery_c: int = -3  # below zero to exercise the >100 encoding
    voltage: float = 26.57
    current: float = -4.25  # + = charging
    soc: int = 64
    cycles: int = 9
    warnings: int = 0
    status: int = 0b0011
    capacity_ah: int = 100
    version: int = 1
    command: int = READ_ALL  # the answer's command byte: 0x03 on some firmware (11.XW)


def _temp(c: int) -> bytes:
    return (100 - c if c < 0 else c).to_bytes(2, "big")


def _current(amps: float, version: int) -> bytes:
    centi = round(abs(amps) * 100)
    if version == 1:
        return ((0x8000 if amps > 0 else 0) | centi).to_bytes(2, "big")
    return (10000 - round(amps * 100)).to_bytes(2, "big")


def answer(s: PackState) -> bytes:
    cells = b"".join(bytes([i + 1]) + mv.to_bytes(2, "big") for i, mv in enumerate(s.cells_mv))
    return encode_response(
        [
            (CELLS, cells),
            (0x80, _temp(s.mos_c)),
            (0x81, _temp(s.box_c)),
            (0x82, _temp(s.battery_c)),
            (0x83, round(s.voltage * 100).to_bytes(2, "big")),
            (0x84, _current(s.current, s.version)),
            (0x85, bytes([s.soc])),
            (0x87, s.cycles.to_bytes(2, "big")),
            (0x8A, len(s.cells_mv).to_bytes(2, "big")),
            (0x8B, s.warnings.to_bytes(2, "big")),
            (0x8C, s.status.to_bytes(2, "big")),
            (0xAA, s.capacity_ah.to_bytes(4, "big")),
            (0xB7, b"11.XW_S11.26___"),
            (0xBA, b"EMULATED".ljust(24, b"\0")),
            (0xC0, bytes([s.version])),
        ],
        command=s.command,
    )


class PtyBmsEmulator(PtyEmulator):
    def __init__(self, state: PackState | None = None) -> None:
        self.state = state or PackState()
        super().__init__({build_request(): "read_all"}, lambda _key: answer(self.state))
