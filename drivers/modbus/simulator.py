"""Simulated devices built from the same map files: a GX on Modbus-TCP, an EPEver on a pty.

A product feature (demo, bench, tests), not a proof: it shares the maps with the decoder, so only
real captures can show the maps right. One `Bank` holds the register contents per unit; the
TCP side serves it through a pymodbus `ModbusTcpServer`, the RTU side through a small responder
on a pseudo-terminal master built on pymodbus's RTU framer (pymodbus's serial server wants a
device path for itself, while a pty gives us one path for the client and a bare fd for us).

    python -m drivers.modbus.simulator gx --port 5020
    python -m drivers.modbus.simulator epever --link /tmp/ttyEPEVER
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import select
import shutil
import signal
import socket
import tempfile
import threading
import tty
from collections.abc import Callable, Mapping

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer.rtu import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse, ReadInputRegistersResponse
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edged.stop_signals import StopSignals

from .decode import encode, encode_code, encode_string, words_of
from .mapfile import load_builtin
from .plan import plan
from .regmap import RegisterMap

GX_UNITS = {100: "victron_gx_system", 245: "victron_gx_solarcharger", 247: "victron_gx_battery"}
"""Unit ids as on a CCGX: 100 system, 245/247 the VE.Direct ports (protocols.md §2.2)."""

SITE: dict[str, dict[str, float | int | str]] = {
    # A 24 V clinic system at midday, charging.
    "victron-gx-system": {
        "serial": "c0619ab1e2f3",  # a VRM portal id (12 hex digits), served at 800..805
        "battery_voltage": 26.4,
        "battery_current": 12.3,
        "battery_power": 325,
        "battery_soc": 87,
        "battery_consumed_ah": -18.5,
        "battery_time_to_go": 600,
        "pv_power": 850,
        "pv_current": 31.2,
        "system_power": 420,
    },
    "victron-gx-solarcharger": {
        "battery_voltage": 26.45,
        "battery_current": 30.5,
        "battery_temperature": 28.5,
        "device_mode": "on",
        "charger_state": "bulk",
        "pv_voltage": 68.2,
        "pv_current": 12.4,
        "yield_today": 2.3,
        "max_power_today": 910,
        "yield_yesterday": 4.1,
        "max_power_yesterday": 1020,
        "charger_error": 0,
        "pv_power": 845.6,
        "yield_total": 2874.6,
        "tracker_mode": "mppt_active",
    },
    "victron-gx-battery": {
        "battery_voltage": 26.41,
        "battery_starter_voltage": 12.8,
        "battery_current": 12.3,
        "battery_temperature": 31.5,
        "battery_midpoint_voltage": 13.2,
        "battery_midpoint_deviation": 0.5,
        "battery_consumed_ah": -18.5,
        "battery_soc": 87.5,
        "battery_cycles": 212,
        "battery_time_to_go": 600,
        "battery_soh": 96.0,
        "battery_capacity": 200.0,
        "cell_voltage_min": 3.29,
        "cell_voltage_max": 3.31,
        "energy_discharged_total": 1520.3,
        "energy_charged_total": 1688.7,
    },
    # Tracer 1210AN reading from captures.md D3 (rosswarren/epevermodbus#36).
    "epever-tracer": {
        "pv_voltage": 19.31,
        "pv_current": 0,
        "pv_power": 0,
        "battery_voltage": 13.39,
        "load_voltage": 13.39,
        "load_current": 0.46,
        "load_power": 4.82,
        "battery_temperature": 10.96,
        "charger_temperature": 22.61,
        "battery_soc": 95,
        "charger_state": "float",
        "battery_current": -0.46,
        "yield_today": 0.35,
        "yield_total": 152.8,
    },
}

Address = tuple[int, int]


def site_words(rmap: RegisterMap, profile: Mapping[str, float | int | str]) -> dict[Address, int]:
    """Register contents for `profile` (metric or info key -> value); every planned block address
    is served, info rows the profile does not name read as zeros (the GX's "invalid")."""
    blocks = [*plan(rmap), *plan(rmap, rows=rmap.info)]
    words = {(b.function, b.address + i): 0 for b in blocks for i in range(b.count)}
    for row in rmap.info:
        if row.name in profile:
            text = encode_string(row, str(profile[row.name]))
            words.update(((row.function, row.address + i), w) for i, w in enumerate(text))
    for reg in rmap.registers:
        raw_words = [0] * reg.width
        if reg.metric in profile:
            raw_words = encode(rmap, reg, float(profile[reg.metric]))
        elif reg.text_metric in profile and reg.enum:
            code = encode_code(rmap, reg.enum, str(profile[reg.text_metric]))
            raw_words = words_of(rmap, reg, code)
        elif reg.fields:
            raw = 0
            for f in reg.fields:
                if f.metric in profile and f.enum and f.mask is None:
                    raw |= encode_code(rmap, f.enum, str(profile[f.metric])) << f.lsb
            raw_words = words_of(rmap, reg, raw)
        for i, w in enumerate(raw_words):
            words[(reg.function, reg.address + i)] = w
    return words


class Bank:
    """Register contents per unit, shared by the servers' threads and the test that drives them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.units: dict[int, dict[Address, int]] = {}
        self.maps: dict[int, RegisterMap] = {}
        self.refusing: set[int] = set()
        """Units that answer every request with an exception (a GX service that went away)."""

    def load(self, unit: int, rmap: RegisterMap, profile: Mapping | None = None) -> None:
        with self._lock:
            self.maps[unit] = rmap
            self.units[unit] = site_words(
                rmap, SITE.get(rmap.name, {}) if profile is None else profile
            )

    def set_words(self, unit: int, function: int, address: int, words: list[int]) -> None:
        with self._lock:
            for i, w in enumerate(words):
                self.units[unit][(function, address + i)] = w

    def set_value(self, unit: int, metric: str, value: float) -> None:
        """Write `value` (metric units) into every register the unit's map reads `metric` from
        (a 16-bit row and its 32-bit successor both, as a GX serves both)."""
        rmap = self.maps[unit]
        for reg in (r for r in rmap.registers if r.metric == metric):
            self.set_words(unit, reg.function, reg.address, encode(rmap, reg, value))

    def read(self, unit: int, function: int, address: int, count: int) -> list[int] | ExcCodes:
        with self._lock:
            if unit in self.refusing:
                return ExcCodes.GATEWAY_NO_RESPONSE
            words = self.units.get(unit, {})
            got = [words.get((function, a)) for a in range(address, address + count)]
        if any(w is None for w in got):
            return ExcCodes.ILLEGAL_ADDRESS
        return [int(w) for w in got if w is not None]


def free_port() -> int:
    """A TCP port free on loopback right now (for tests and benches)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GxSimulator:
    """A GX on Modbus-TCP: system on unit 100, a solar charger and a battery monitor."""

    def __init__(self, port: int, host: str = "127.0.0.1", units: Mapping[int, str] = GX_UNITS):
        self.host, self.port = host, port
        self.bank = Bank()
        for unit, stem in units.items():
            self.bank.load(unit, load_builtin(stem))
        self.late: dict[tuple[int, int], float] = {}
        """(unit, start address) -> seconds before answering: dbus_modbustcp holds a request
        until its D-Bus items are initialised (mappings.cpp addPendingRequest)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusTcpServer | None = None
        self._thread: threading.Thread | None = None

    def _devices(self) -> list[SimDevice]:
        devices = []
        for unit, words in self.bank.units.items():
            lo, hi = min(a for _, a in words), max(a for _, a in words)
            data = SimData(lo, count=hi - lo + 1, values=0, datatype=DataType.REGISTERS)
            devices.append(SimDevice(unit, simdata=[data], action=self._action(unit)))
        if 0 not in self.bank.units:
            devices.append(_absent_units())
        return devices

    def _action(self, unit: int) -> Callable:
        async def action(fc, start, address, count, current, _set_values):  # noqa: ANN001
            await asyncio.sleep(self.late.get((unit, address), 0))
            got = self.bank.read(unit, 3 if fc in (6, 16) else fc, address, count)
            if isinstance(got, ExcCodes):
                return got
            current[address - start : address - start + count] = got
            return None

        return action

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError(f"GX simulator did not start on {self.host}:{self.port}")

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()

        async def main() -> None:
            self._server = ModbusTcpServer(self._devices(), address=(self.host, self.port))
            await self._server.serve_forever(background=True)
            ready.set()
            await self._server.serving

        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(main())
        loop.close()

    def stop(self) -> None:
        if self._loop and self._server and self._thread:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5)
            self._thread.join(5)
        self._thread = self._server = self._loop = None


def _absent_units() -> SimDevice:
    """pymodbus serves unit 0 for every unit id not defined, and without one it fails with a
    `KeyError: 0` traceback per request (`edged scan --tcp` asks 248 of them). A GX answers a unit
    id it serves no service on with "gateway path unavailable" (10, docs/drivers-modbus.md):
    so does this one, to every read and write at any address, quietly."""

    async def absent(*_args) -> ExcCodes:  # noqa: ANN002
        return ExcCodes.GATEWAY_PATH_UNAVIABLE  # sic: pymodbus's spelling

    every = SimData(0, count=65536, values=0, datatype=DataType.REGISTERS)
    return SimDevice(0, simdata=[every], action=absent)


class EpeverSimulator:
    """EPEver slaves on one pseudo-terminal (an RS485 bus: one slave per address in `address`);
    clients open `self.port`, the `link` symlink (a private one when none is given).

    The port is never the `/dev/pts/N` name: the kernel gives a freed pty number to the next pty
    opened on the machine, so a driver reopening a stopped simulator's `/dev/pts/N` would attach
    to another test's device (or lock it out with its exclusive open). The link goes with the
    simulator; `tty` names the pty itself, for tests of how links and ttys meet."""

    def __init__(self, address: int | tuple[int, ...] = 1, link: str | None = None) -> None:
        self.link = link or ""
        self._own_dir = ""
        self.bank = Bank()
        for unit in (address,) if isinstance(address, int) else address:
            self.bank.load(unit, load_builtin("epever_tracer"))
        self.silent: set[int] = set()
        """Addresses that stop answering (one controller's cable cut, the others still wired)."""
        self.mangle: Callable[[bytes], bytes] | None = None
        """Applied to every answer frame before it is written (CRC damage, echo, noise)."""
        self.tty = ""
        """The pty's own `/dev/pts/N` name while started (give drivers `port`)."""
        self._fds: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> str:
        """The port to open: always the link, never the recyclable `/dev/pts/N` name."""
        return self.link

    def start(self) -> None:
        if not self.link:
            self._own_dir = tempfile.mkdtemp(prefix="epever-simulator-")
            self.link = os.path.join(self._own_dir, "tty")
        master, slave = os.openpty()
        tty.setraw(slave)
        self._fds = (master, slave)
        self.tty = os.ttyname(slave)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.link)
        os.symlink(self.tty, self.link)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, args=(master,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self._fds:
            for fd in self._fds:
                os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.link)
        if self._own_dir:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = self.link = ""
        self._fds = self._thread = None
        self.tty = ""

    def _serve(self, master: int) -> None:
        framer = FramerRTU(DecodePDU(True))
        buf = b""
        while not self._stop.is_set():
            if not select.select([master], [], [], 0.05)[0]:
                buf = b""  # a silent gap ends any partial frame (RTU's 3.5-character rule)
                continue
            try:
                buf += os.read(master, 1024)
            except OSError:
                continue
            try:
                used, pdu = framer.handleFrame(buf, 0, 0)
                buf = buf[used:]
            except ModbusIOException:  # CRC fine but not a PDU we know: drop it, as a slave would
                buf, pdu = b"", None
            unit = pdu.dev_id if pdu is not None else None
            if unit in self.bank.units and unit not in self.silent:
                answer = framer.buildFrame(self._answer(pdu))
                os.write(master, self.mangle(answer) if self.mangle else answer)

    def _answer(self, pdu):  # noqa: ANN001, ANN202
        if pdu.function_code not in (3, 4):
            return ExceptionResponse(pdu.function_code, ExcCodes.ILLEGAL_FUNCTION, pdu.dev_id)
        got = self.bank.read(pdu.dev_id, pdu.function_code, pdu.address, pdu.count)
        if isinstance(got, ExcCodes):
            return ExceptionResponse(pdu.function_code, got, device_id=pdu.dev_id)
        cls = ReadHoldingRegistersResponse if pdu.function_code == 3 else ReadInputRegistersResponse
        return cls(registers=got, dev_id=pdu.dev_id)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m drivers.modbus.simulator")
    sub = p.add_subparsers(dest="kind", required=True)
    gx = sub.add_parser("gx", help="Victron GX on Modbus-TCP (units 100, 245, 247)")
    gx.add_argument("--host", default="127.0.0.1")
    gx.add_argument("--port", type=int, default=5020)
    ep = sub.add_parser("epever", help="EPEver Tracer RTU slave on a pseudo-terminal")
    ep.add_argument("--link", default="/tmp/ttyEPEVER")
    ep.add_argument("--address", type=int, default=1)
    args = p.parse_args(argv)
    sim: GxSimulator | EpeverSimulator
    if args.kind == "gx":
        sim = GxSimulator(args.port, args.host)
        where = f"{args.host}:{args.port}"
    else:
        sim = EpeverSimulator(args.address, args.link)
        where = args.link
    stops = StopSignals().install(signal.SIGTERM)
    sim.start()
    print(f"{args.kind} simulator serving on {where}; Ctrl-C or SIGTERM stops", flush=True)
    try:
        stops.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
