"""Register maps as frozen rows: what a map file becomes once `drivers.modbus.mapfile` loaded it.

A map is the whole description of a Modbus device, so adding a device means writing data, not
code. It is validated once, at load time (`drivers.modbus.mapcheck`: every problem with the file
and the key path). Pure data: no I/O.

Format: docs/drivers-modbus.md "Register map format"; maps/*.toml are complete, commented examples.
`[device]`, `[enums.X]` code -> name tables, `[[register]]` rows (telemetry, read every poll) and
`[[info]]` rows (device identity such as the serial, read once per connection, never metrics).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

TYPES = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}
INFO_TYPES = ("string",)
INFO_NAMES = ("product", "serial", "firmware")
"""The identity keys the contract puts in `P/device/{device}`; a device's own word wins over the
map's `product`."""
WORD_ORDERS = ("high_first", "low_first")
FUNCTIONS = (3, 4)
CONVERT = {("s", "min"): 1 / 60, ("min", "s"): 60.0, ("Wh", "kWh"): 1e-3, ("mV", "V"): 1e-3}
"""Wire unit -> metric unit factors the maps may rely on (anything else is a load error)."""


class MapError(ValueError):
    """A map file is unreadable or invalid; the message lists every problem with its key path."""


@dataclass(frozen=True, slots=True)
class Field:
    """A bit field of a status register: value = (raw >> lsb) & (2**width - 1), or raw & mask."""

    key: str
    lsb: int
    width: int
    mask: int | None
    enum: str | None
    metric: str | None
    alarm: str | None
    name: str | None
    when: tuple[int, int] | None = None
    """(mask, value): the field reads 0 unless raw & mask == value. A bit one firmware sets in
    normal operation (EPEver 0x3201 D1 while charging) counts only with the other bits that
    corroborate it."""


@dataclass(frozen=True, slots=True)
class Register:
    key: str
    """Where it came from in the file (`register[4]`), for messages and counters."""
    address: int
    function: int
    type: str
    metric: str | None
    scale: float
    factor: float
    """Unit conversion applied after scaling (1 when the wire unit is the metric's unit)."""
    lo: float | None
    hi: float | None
    na: tuple[int, ...]
    wraps: bool
    enum: str | None
    text_metric: str | None
    fields: tuple[Field, ...]
    alone: bool = False
    """Read in a request of its own: a register only newer firmware serves (a GX answers an
    exception for the whole request) must not take its neighbours down with it."""

    @property
    def width(self) -> int:
        return TYPES[self.type]


@dataclass(frozen=True, slots=True)
class InfoRegister:
    """A run of registers holding one identity value, read once per connection (not per poll)."""

    key: str
    """Where it came from in the file (`info[0]`)."""
    name: str
    """The device-info key it fills (one of INFO_NAMES)."""
    address: int
    function: int
    type: str
    count: int
    """Registers in the run: a string holds two ASCII characters per register."""

    @property
    def width(self) -> int:
        return self.count


@dataclass(frozen=True, slots=True)
class RegisterMap:
    name: str
    product: str
    path: str
    word_order: str
    max_registers: int
    max_gap: int
    enums: Mapping[str, Mapping[int, str]]
    registers: tuple[Register, ...]
    info: tuple[InfoRegister, ...] = ()
