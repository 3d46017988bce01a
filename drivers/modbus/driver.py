"""Thin I/O shell: one poll = the planned block reads over a pymodbus sync client, then `decode`.

It owns no policy: it does not loop, sleep between polls or decide stale/offline (the runner
does). What it decides is how a failed request reads to the core:
- a Modbus exception answer for a block -> that block's metrics are absent (never zero), counted;
  if every block answers an exception the device is not serving this map -> ProtocolError;
- no answer within the request budget (`retries` + 1 attempts, each bounded by `timeout` and the
  caller's deadline) -> DeviceUnavailable, so one silent slave on a shared bus costs a bounded time;
- bytes that do not make a valid frame (bad CRC, RS485 echo, foreign frames) -> ProtocolError.

Modbus-RTU slaves share their port's bus (`drivers.modbus.bus`): a poll holds the bus for all its
blocks, so requests to different slaves never interleave, and a slave silent on its first block
gives the bus back after `timeout` x (`retries` + 1). Modbus-TCP keeps a connection per driver.

Identity (`[[info]]` rows of the map: the GX's serial) is read in `open`, once per connection,
and merged into `info`, which the runner publishes in `P/device/{device}`. It is never worth a
lost poll: whatever fails there (exception answer, silence, garbage, a busy bus) leaves those
keys absent until the next reconnect and counts `info_unavailable`; only a peer that cannot be
reconnected at all makes `open` raise DeviceUnavailable, as it would without info.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from pymodbus.client import ModbusTcpClient
from pymodbus.client.base import ModbusBaseSyncClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from drivers.base import Counters, DeviceUnavailable, ProtocolError
from edged.readings import Reading

from .bus import BusBusy, SharedPort, Trace
from .decode import decode, decode_info
from .plan import Block, plan
from .regmap import RegisterMap

log = logging.getLogger(__name__)

INFO_BUS_WAIT = 5.0
"""Seconds `open` waits for its turn on a shared RTU bus to read info before going without."""


class Dedicated:
    """A connection of the driver's own: Modbus-TCP, where the peer serves many clients at once."""

    def __init__(self, make: Callable[[float, Trace], ModbusBaseSyncClient], where: str) -> None:
        self._make, self._where = make, where
        self._client: ModbusBaseSyncClient | None = None

    @property
    def is_open(self) -> bool:
        return self._client is not None

    def open(self, timeout: float, trace: Trace) -> None:
        self.close()
        client = self._make(timeout, trace)
        if not client.connect():
            client.close()
            raise DeviceUnavailable(f"cannot connect to {self._where}")
        self._client = client

    def close(self, lost: bool = False) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @contextlib.contextmanager
    def hold(self, wait: float) -> Iterator[ModbusBaseSyncClient]:
        if self._client is None:
            raise DeviceUnavailable(f"{self._where} is not open")
        yield self._client


Link = Dedicated | SharedPort
"""How a driver reaches its unit: its own TCP connection, or its turn on a shared RTU bus."""


def tcp_client(host: str, port: int) -> Link:
    def make(timeout: float, trace: Trace) -> ModbusBaseSyncClient:
        return ModbusTcpClient(host, port=port, timeout=timeout, retries=0, trace_packet=trace)

    return Dedicated(make, f"{host}:{port}")


def rtu_client(port: str, baudrate: int) -> Link:
    return SharedPort(port, baudrate)


class ModbusDriver:
    """A poll driver for one Modbus unit described by a register map."""

    def __init__(
        self,
        rmap: RegisterMap,
        client: Link,
        unit: int,
        timeout: float,
        where: str,
        retries: int = 0,
    ) -> None:
        self.rmap = rmap
        self.unit = unit
        self.timeout = timeout
        self.retries = retries
        self.where = where
        self.counters = Counters()
        self.info: dict[str, str] = {"product": rmap.product}
        self._link = client
        self._plan = plan(rmap)
        self._info_plan = plan(rmap, rows=rmap.info)
        self._previous: dict[tuple[int, int], int] = {}
        self._rx = False

    def open(self) -> None:
        """Connect, then read the device's identity (if the map has `[[info]]` rows)."""
        self._link.open(self.timeout, self._trace)
        self.info = {"product": self.rmap.product}
        if self._info_plan:
            self._read_info()

    def _read_info(self) -> None:
        """Merge the identity the device gives into `info`; see the module docstring."""
        budget = self.timeout * (self.retries + 1) * len(self._info_plan)
        try:
            with self._link.hold(INFO_BUS_WAIT) as client:
                words = self._poll(client, time.monotonic() + budget, self._info_plan)
        except (DeviceUnavailable, ProtocolError, BusBusy) as exc:
            log.debug("unit %s at %s: no device info: %s", self.unit, self.where, exc)
            words = {}
            if not self._link.is_open:  # a silent request closed it: telemetry needs a fresh one
                self._link.open(self.timeout, self._trace)
        info, rejected = decode_info(self.rmap, words)
        self._count(rejected)
        self.info = {"product": self.rmap.product} | info
        if len(info) < len(self.rmap.info):
            self.counters.reject("info_unavailable")

    def close(self) -> None:
        self._link.close()

    def read(self, deadline: float) -> list[Reading]:
        """One poll of the whole map; metrics of blocks that answered an exception are absent.

        On a shared bus the poll first waits its turn, keeping one request timeout of its
        deadline for itself: a bus that other slaves' polls kept busy that long means no reading
        this time, not a lost device (the runner's staleness clock still runs)."""
        wait = max(0.0, deadline - time.monotonic() - self.timeout)
        try:
            with self._link.hold(wait) as client:
                words = self._poll(client, deadline, self._plan)
        except BusBusy:
            log.debug(
                "unit %s at %s: bus busy for %.2f s, poll skipped", self.unit, self.where, wait
            )
            return []
        if not words:
            raise ProtocolError(f"unit {self.unit} at {self.where} refused every block")
        decoded = decode(self.rmap, words, self._previous)
        self._previous.update(words)
        self._count(decoded.rejected)
        return [Reading(decoded.metrics, dict(self.info), decoded.extra)]

    def _count(self, rejected: list[str]) -> None:
        for reason in rejected:
            kind = reason.split(":", 1)[0]
            if kind != "na":  # "not available" is a normal answer, not a bad one
                self.counters.reject(kind)

    def _poll(
        self, client: ModbusBaseSyncClient, deadline: float, blocks: list[Block]
    ) -> dict[tuple[int, int], int]:
        """Every block in turn; the first silence ends the poll, so a dead slave on a shared bus
        holds it at most `timeout` x (`retries` + 1), not that times the number of blocks."""
        words: dict[tuple[int, int], int] = {}
        for block in blocks:
            registers = self._request(client, block, deadline)
            if registers is not None:
                words.update(
                    ((block.function, block.address + i), w) for i, w in enumerate(registers)
                )
        return words

    def _request(
        self, client: ModbusBaseSyncClient, block: Block, deadline: float
    ) -> list[int] | None:
        """The block's registers, None for a Modbus exception; raises on silence or garbage."""
        error: Exception = DeviceUnavailable(f"deadline reached before reading {self.where}")
        for _ in range(self.retries + 1):
            budget = min(self.timeout, deadline - time.monotonic())
            if budget <= 0:
                break
            try:
                return self._attempt(client, block, budget)
            except (DeviceUnavailable, ProtocolError) as exc:
                error = exc
                if not self._link.is_open:  # connection lost: retrying here is the runner's job
                    break
        if isinstance(error, DeviceUnavailable):
            self.close()  # a late answer must not be taken for the next request's
        raise error

    def _attempt(
        self, client: ModbusBaseSyncClient, block: Block, budget: float
    ) -> list[int] | None:
        client.comm_params.timeout_connect = budget
        self._rx = False
        read = client.read_holding_registers if block.function == 3 else client.read_input_registers
        try:
            resp = read(block.address, count=block.count, device_id=self.unit)
        except ConnectionException as exc:
            self.counters.reject("connection")
            self._link.close(lost=True)  # the port vanished: whoever shares it must reopen
            raise DeviceUnavailable(f"{self.where}: {exc}") from None
        except ModbusIOException:
            if self._rx:
                self.counters.reject("garbled")
                raise ProtocolError(
                    f"unit {self.unit} at {self.where}: unreadable answer"
                ) from None
            self.counters.reject("timeout")
            raise DeviceUnavailable(
                f"unit {self.unit} at {self.where}: no answer within {budget:.2f} s"
            ) from None
        except ModbusException as exc:
            self.counters.reject("protocol")
            raise ProtocolError(f"unit {self.unit} at {self.where}: {exc}") from None
        if resp.isError():
            code = getattr(resp, "exception_code", 0)
            self.counters.reject(f"exception_{code}")
            log.debug("unit %s at %s: exception %s for %s", self.unit, self.where, code, block)
            return None
        registers = list(getattr(resp, "registers", []))
        if len(registers) != block.count:
            self.counters.reject("length")
            raise ProtocolError(f"unit {self.unit} at {self.where}: {len(registers)} registers")
        self.counters.accepted += 1
        return registers

    def _trace(self, sending: bool, data: bytes) -> bytes:
        """pymodbus packet hook: remembers that bytes arrived, to tell garbage from silence."""
        if not sending and data:
            self._rx = True
        return data
