"""Several Pylontech packs on one emulated RS485 bus (a pty), each answering at its address.

Requests to an address with no pack get no answer, as on a real bus. Values are settable per
pack through `packs`; payloads use the layout `fields.py` reads (plumbing, not proof: the
captured frames are the authority).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from drivers.battery.ptyemu import PtyEmulator
from drivers.battery.pylontech.codec import (
    ALARM_INFO,
    ANALOG_VALUES,
    build_request,
    encode_response,
)


@dataclass
class PackState:
    cells_mv: list[int] = field(default_factory=lambda: [3270 + i % 3 for i in range(15)])
    temps_c: list[float] = field(default_factory=lambda: [24.0, 22.0, 22.0, 23.0, 23.0])
    current_raw: int = -32  # wire units (0.1 A by default)
    remaining_mah: int = 48100
    total_mah: int = 74000
    cycles: int = 27
    status1: int = 0
    status2: int = 0x06  # charge + discharge MOSFET on
    return_code: int = 0  # non-zero: answer every command with this RTN and no INFO


def analog_info(address: int, s: PackState) -> bytes:
    out = bytes([0x11, address, len(s.cells_mv)]) + b"".join(
        struct.pack(">H", mv) for mv in s.cells_mv
    )
    out += bytes([len(s.temps_c)]) + b"".join(
        struct.pack(">H", round(t * 10) + 2731) for t in s.temps_c
    )
    out += struct.pack(">hHHBHH", s.current_raw, sum(s.cells_mv), 0xFFFF, 4, 0xFFFF, s.cycles)
    return out + s.remaining_mah.to_bytes(3, "big") + s.total_mah.to_bytes(3, "big")


def alarm_info(address: int, s: PackState) -> bytes:
    n, m = len(s.cells_mv), len(s.temps_c)
    states = bytes([n]) + bytes(n) + bytes([m]) + bytes(m) + bytes(3)
    return bytes([0x11, address]) + states + bytes([s.status1, s.status2, 0, 0, 0])


class PtyBmsEmulator(PtyEmulator):
    def __init__(self, packs: dict[int, PackState] | None = None) -> None:
        self.packs = packs if packs is not None else {2: PackState(), 3: PackState()}
        requests = {
            build_request(cid2, adr): (cid2, adr)
            for adr in self.packs
            for cid2 in (ANALOG_VALUES, ALARM_INFO)
        }
        super().__init__(requests, self._respond)

    def _respond(self, key: object) -> bytes:
        cid2, adr = key  # type: ignore[misc]
        pack = self.packs[adr]
        if pack.return_code:
            return encode_response(adr, b"", pack.return_code)
        build = analog_info if cid2 == ANALOG_VALUES else alarm_info
        return encode_response(adr, build(adr, pack))
