"""Thin I/O shell: one poll = the planned block reads over a pymodbus sync client, then `decode`.

It owns no policy: it does not loop, sleep between polls or decide stale/offline (the runner
does). What it decides is how a failed request reads to the core:
- a Modbus exception answer for a block -> that block's metrics are absent (never zero), counted;
  if every block answers an exception the device is not serving this map -> ProtocolError;
- no answer within the request budget (`retries` + 1 attempts, each bounded by `timeout` and the
  caller's deadline) -> DeviceUnavailable, so one silent slave on a shared bus costs a bounded time;
- bytes that do not make a valid frame (bad CRC, RS485 echo, foreign frames) -> ProtocolError.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.client.base import ModbusBaseSyncClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from drivers.base import Counters, DeviceUnavailable, ProtocolError
from edged.readings import Reading

from .decode import decode
from .plan import Block, plan
from .regmap import RegisterMap

log = logging.getLogger(__name__)

Trace = Callable[[bool, bytes], bytes]
ClientFactory = Callable[[float, Trace], ModbusBaseSyncClient]
"""Builds an unconnected client given the request timeout and a packet-trace hook."""


def tcp_client(host: str, port: int) -> ClientFactory:
    def make(timeout: float, trace: Trace) -> ModbusBaseSyncClient:
        return ModbusTcpClient(host, port=port, timeout=timeout, retries=0, trace_packet=trace)

    return make


def rtu_client(port: str, baudrate: int) -> ClientFactory:
    def make(timeout: float, trace: Trace) -> ModbusBaseSyncClient:
        return ModbusSerialClient(
            port, baudrate=baudrate, timeout=timeout, retries=0, trace_packet=trace
        )

    return make


class ModbusDriver:
    """A poll driver for one Modbus unit described by a register map."""

    def __init__(
        self,
        rmap: RegisterMap,
        client: ClientFactory,
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
        self._factory = client
        self._client: ModbusBaseSyncClient | None = None
        self._plan = plan(rmap)
        self._previous: dict[tuple[int, int], int] = {}
        self._rx = False

    def open(self) -> None:
        self.close()
        client = self._factory(self.timeout, self._trace)
        if not client.connect():
            client.close()
            raise DeviceUnavailable(f"cannot connect to {self.where}")
        self._client = client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def read(self, deadline: float) -> list[Reading]:
        """One poll of the whole map; metrics of blocks that answered an exception are absent."""
        words: dict[tuple[int, int], int] = {}
        refused = 0
        for block in self._plan:
            registers = self._request(block, deadline)
            if registers is None:
                refused += 1
                continue
            words.update(((block.function, block.address + i), w) for i, w in enumerate(registers))
        if not words:
            raise ProtocolError(f"unit {self.unit} at {self.where} refused every block")
        decoded = decode(self.rmap, words, self._previous)
        self._previous.update(words)
        for reason in decoded.rejected:
            kind = reason.split(":", 1)[0]
            if kind != "na":  # "not available" is a normal answer, not a bad one
                self.counters.reject(kind)
        return [Reading(decoded.metrics, dict(self.info), decoded.extra)]

    def _request(self, block: Block, deadline: float) -> list[int] | None:
        """The block's registers, None for a Modbus exception; raises on silence or garbage."""
        error: Exception = DeviceUnavailable(f"deadline reached before reading {self.where}")
        for _ in range(self.retries + 1):
            budget = min(self.timeout, deadline - time.monotonic())
            if budget <= 0:
                break
            try:
                return self._attempt(block, budget)
            except (DeviceUnavailable, ProtocolError) as exc:
                error = exc
                if self._client is None:  # connection lost: retrying here is the runner's job
                    break
        if isinstance(error, DeviceUnavailable):
            self.close()  # a late answer must not be taken for the next request's
        raise error

    def _attempt(self, block: Block, budget: float) -> list[int] | None:
        client = self._client
        if client is None:
            raise DeviceUnavailable(f"{self.where} is not open")
        client.comm_params.timeout_connect = budget
        self._rx = False
        read = client.read_holding_registers if block.function == 3 else client.read_input_registers
        try:
            resp = read(block.address, count=block.count, device_id=self.unit)
        except ConnectionException as exc:
            self.counters.reject("connection")
            self.close()
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
