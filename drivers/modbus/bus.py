"""One pymodbus serial client per RS485 bus, shared by the drivers of every slave wired to it.

pymodbus opens a serial port exclusively, and two masters on one bus would collide on the wire
anyway, so the drivers of the slaves on one port share one client and take turns: a poll holds the
bus for the whole poll of its slave (see `drivers.modbus.driver`). Buses are keyed by the port's
real path, so a /dev/serial/by-id link and the tty it names are one bus. A bus is reference
counted by the drivers that opened it and its port closes with the last of them. When the port
vanishes the bus is marked broken and dropped from the registry: the drivers still holding it get
DeviceUnavailable on their next poll, and their reopen builds a fresh client.

Must not: retry, time requests or decide stale/offline (the driver and the runner do that).
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Callable, Iterator

from pymodbus.client import ModbusSerialClient

from drivers.base import DeviceUnavailable

Trace = Callable[[bool, bytes], bytes]


class BusBusy(Exception):
    """The bus stayed taken by other slaves' polls for as long as the caller could wait."""


class FairLock:
    """First come, first served: a slave polled back to back cannot starve its neighbours."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: collections.deque[object] = collections.deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        me = object()
        with self._cond:
            self._queue.append(me)
            if self._cond.wait_for(lambda: not self._held and self._queue[0] is me, timeout):
                self._queue.popleft()
                self._held = True
                return True
            self._queue.remove(me)
            self._cond.notify_all()  # the next in line may be free to go now
            return False

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()


class Bus:
    """One open port: its client, its turn lock, and how many drivers use it."""

    def __init__(self, path: str, baudrate: int, timeout: float) -> None:
        self.path, self.baudrate = path, baudrate
        self.client = ModbusSerialClient(
            path, baudrate=baudrate, timeout=timeout, retries=0, trace_packet=self._on_packet
        )
        self.lock = FairLock()
        self.users = 0
        self.broken = False
        self.trace: Trace | None = None
        """The packet hook of the driver holding the bus (pymodbus takes one per client)."""

    def _on_packet(self, sending: bool, data: bytes) -> bytes:
        return self.trace(sending, data) if self.trace else data


_BUSES: dict[str, Bus] = {}
_GUARD = threading.Lock()


def acquire(port: str, baudrate: int, timeout: float) -> Bus:
    """The open bus on `port`, connecting it for the first user; DeviceUnavailable if it can't."""
    path = os.path.realpath(port)
    with _GUARD:
        bus = _BUSES.get(path)
        if bus is None:
            bus = Bus(path, baudrate, timeout)
            if not bus.client.connect():
                bus.client.close()
                raise DeviceUnavailable(f"cannot open {port!r}")
            _BUSES[path] = bus
        elif bus.baudrate != baudrate:
            raise DeviceUnavailable(f"{port!r} is already open at {bus.baudrate} baud")
        bus.users += 1
        return bus


def release(bus: Bus, broken: bool = False) -> None:
    """One user less; the last one closes the port. `broken`: the port vanished, drop it now."""
    with _GUARD:
        bus.users -= 1
        bus.broken = bus.broken or broken
        if bus.users > 0 and not bus.broken:
            return
        if _BUSES.get(bus.path) is bus:
            del _BUSES[bus.path]
        bus.client.close()


def open_buses() -> dict[str, int]:
    """Real path -> number of drivers using it, for diagnostics and tests."""
    with _GUARD:
        return {path: bus.users for path, bus in _BUSES.items()}


class SharedPort:
    """A driver's handle on the bus of its port: open/close count it, `hold` takes a turn."""

    def __init__(self, port: str, baudrate: int) -> None:
        self.port, self.baudrate = port, baudrate
        self._bus: Bus | None = None
        self._trace: Trace | None = None

    @property
    def is_open(self) -> bool:
        return self._bus is not None

    def open(self, timeout: float, trace: Trace) -> None:
        self.close()
        self._bus = acquire(self.port, self.baudrate, timeout)
        self._trace = trace

    def close(self, lost: bool = False) -> None:
        if self._bus is not None:
            bus, self._bus = self._bus, None
            release(bus, broken=lost)

    @contextlib.contextmanager
    def hold(self, wait: float) -> Iterator[ModbusSerialClient]:
        """The bus's client for one poll; BusBusy if other polls kept it `wait` seconds."""
        bus = self._bus
        if bus is None:
            raise DeviceUnavailable(f"{self.port!r} is not open")
        if not bus.lock.acquire(wait):
            raise BusBusy(self.port)
        try:
            if bus.broken:
                raise DeviceUnavailable(f"{self.port!r} vanished")
            bus.trace = self._trace
            yield bus.client
        finally:
            bus.trace = None
            bus.lock.release()
