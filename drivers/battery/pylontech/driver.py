"""Pylontech driver: thin serial I/O around `codec` and `fields` (protocols.md 4.1).

One device = one pack address on the RS485 bus (the master answers at 2, slaves at 3, 4 …).
One poll asks analog values (0x42) then alarm info (0x44) and merges both into one `Reading`.
Raises only `DeviceUnavailable` / `ProtocolError` (see `drivers.battery.link`).
"""

from __future__ import annotations

from drivers.base import ProtocolError
from drivers.battery.link import SerialBmsDriver
from drivers.battery.pylontech.codec import (
    ALARM_INFO,
    ANALOG_VALUES,
    CID1_BATTERY,
    RETURN_CODES,
    Frame,
    ResponseParser,
    build_request,
)
from drivers.battery.pylontech.fields import decode
from edged.readings import Reading

DEFAULT_BAUDRATE = 9600
DEFAULT_ADDRESS = 2


class PylontechDriver(SerialBmsDriver):
    def __init__(
        self,
        port: str,
        baudrate: int = DEFAULT_BAUDRATE,
        address: int = DEFAULT_ADDRESS,
        current_unit: str = "100mA",
        current_sign: str = "normal",
    ) -> None:
        super().__init__(port, baudrate)
        self.address = address
        self.current_unit = current_unit
        self.current_sign = current_sign

    def poll(self, deadline: float) -> Reading:
        parser = ResponseParser()
        analog, alarms = (self._ask(cid2, parser, deadline) for cid2 in (ANALOG_VALUES, ALARM_INFO))
        return decode(
            analog, alarms, current_unit=self.current_unit, current_sign=self.current_sign
        )

    def _ask(self, cid2: int, parser: ResponseParser, deadline: float) -> Frame:
        # In a response CID2 is a return code; a frame from our address still carrying our
        # command is the request itself, echoed by a 2-wire RS485 adapter: not an answer.
        def answer(frame: Frame) -> bool:
            return self._from_our_pack(frame) and frame.cid2 != cid2

        (frame,) = self.link.exchange(build_request(cid2, self.address), parser, answer, deadline)
        if frame.cid2 != 0:
            self.counters.reject("return_code")
            meaning = RETURN_CODES.get(frame.cid2, "unknown")
            raise ProtocolError(
                f"pack {self.address} answered command {cid2:#04x} with {frame.cid2:#04x} "
                f"({meaning})"
            )
        return frame

    def _from_our_pack(self, frame: Frame) -> bool:
        return frame.adr == self.address and frame.cid1 == CID1_BATTERY
