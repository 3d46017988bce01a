"""JBD driver: thin serial I/O around `codec` and `fields` (protocols.md 4.2).

One poll asks register 0x03 (basic info) then 0x04 (cell voltages) and merges both answers into
one `Reading`. Raises only `DeviceUnavailable` / `ProtocolError` (see `drivers.battery.link`).
"""

from __future__ import annotations

from drivers.base import ProtocolError
from drivers.battery.jbd.codec import BASIC_INFO, CELL_VOLTAGES, ResponseParser, build_request
from drivers.battery.jbd.fields import decode
from drivers.battery.link import SerialBmsDriver
from edged.readings import Reading

DEFAULT_BAUDRATE = 9600
REGISTERS = (BASIC_INFO, CELL_VOLTAGES)


class JbdDriver(SerialBmsDriver):
    def __init__(
        self, port: str, baudrate: int = DEFAULT_BAUDRATE, current_sign: str = "normal"
    ) -> None:
        super().__init__(port, baudrate)
        self.current_sign = current_sign

    def poll(self, deadline: float) -> Reading:
        parser = ResponseParser()
        frames = []
        for register in REGISTERS:
            (frame,) = self.link.exchange(
                build_request(register), parser, lambda f, r=register: f.register == r, deadline
            )
            if frame.status != 0:
                self.counters.reject("status")
                raise ProtocolError(f"register {register:#04x}: BMS status {frame.status:#04x}")
            frames.append(frame)
        return decode(frames, current_sign=self.current_sign)
