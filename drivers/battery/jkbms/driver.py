"""JK BMS driver: thin serial I/O around `codec` and `fields` (protocols.md 4.4).

One poll sends the read-all request and decodes the single long answer into one `Reading`;
device info (product, firmware, device id) comes with every answer. Raises only
`DeviceUnavailable` / `ProtocolError` (see `drivers.battery.link`).
"""

from __future__ import annotations

from drivers.battery.jkbms.codec import ResponseParser, build_request, is_read_all_answer
from drivers.battery.jkbms.fields import decode
from drivers.battery.link import SerialBmsDriver
from edged.readings import Reading

DEFAULT_BAUDRATE = 115200
REQUEST = build_request()


class JkBmsDriver(SerialBmsDriver):
    def __init__(
        self,
        port: str,
        baudrate: int = DEFAULT_BAUDRATE,
        current_encoding: str = "auto",
        current_sign: str = "normal",
    ) -> None:
        super().__init__(port, baudrate)
        self.current_encoding = current_encoding
        self.current_sign = current_sign

    def poll(self, deadline: float) -> Reading:
        (frame,) = self.link.exchange(REQUEST, ResponseParser(), is_read_all_answer, deadline)
        if frame.unparsed:
            # An id of unknown size ends the split; what came before is still good.
            self.counters.reject("unknown_id")
        return decode(frame, current_encoding=self.current_encoding, current_sign=self.current_sign)
