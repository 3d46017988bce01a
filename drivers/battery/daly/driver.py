"""Daly driver: thin serial I/O around `codec` and `fields` (protocols.md 4.3).

One poll asks 0x90 (V/I/SOC), 0x91 (cell min/max), 0x92 (temperatures), 0x93 (MOS status),
0x94 (status info, which gives the cell count), 0x95 (⌈cells/3⌉ cell-voltage frames) and 0x98
(failure flags), and merges the answers into one `Reading`. Raises only `DeviceUnavailable` /
`ProtocolError` (see `drivers.battery.link`).
"""

from __future__ import annotations

from drivers.battery.daly import codec
from drivers.battery.daly.codec import Frame, ResponseParser, build_request
from drivers.battery.daly.fields import decode
from drivers.battery.link import SerialBmsDriver
from edged.readings import Reading

DEFAULT_BAUDRATE = 9600
DEFAULT_BOARD = 1
BEFORE_CELLS = (
    codec.SOC_VOLTAGE_CURRENT,
    codec.CELL_MIN_MAX,
    codec.TEMPERATURES,
    codec.MOS_STATUS,
    codec.STATUS_INFO,
)
MAX_CELLS = 48  # sanity bound on the advertised count before asking for that many frames


class DalyDriver(SerialBmsDriver):
    def __init__(
        self,
        port: str,
        baudrate: int = DEFAULT_BAUDRATE,
        board: int = DEFAULT_BOARD,
        current_sign: str = "normal",
    ) -> None:
        super().__init__(port, baudrate)
        self.board = board
        self.current_sign = current_sign

    def poll(self, deadline: float) -> Reading:
        parser = ResponseParser()
        frames = [self._ask(cmd, parser, deadline)[0] for cmd in BEFORE_CELLS]
        cells = min(frames[-1].data[0], MAX_CELLS)
        if cells:
            frames += self._ask(codec.CELL_VOLTAGES, parser, deadline, -(-cells // 3))
        frames += self._ask(codec.FAILURES, parser, deadline)
        return decode(frames, current_sign=self.current_sign)

    def _ask(self, command: int, parser: ResponseParser, deadline: float, count: int = 1):
        request = build_request(command, self.board)

        # Responses carry the board's own address, not the one polled, so match on the command.
        # A frame carrying the polled address is our own request, echoed by a 2-wire RS485
        # adapter: taken as the answer, its zero data would read 0 V and -3000 A.
        def want(frame: Frame) -> bool:
            return frame.command == command and frame.address != request[1]

        return self.link.exchange(request, parser, want, deadline, count)
