"""Register map files: load a TOML map, have every key validated, hand back frozen rows.

A map is the whole description of a Modbus device, so adding a device means writing data, not
code. It is validated once, at load time (`drivers.modbus.mapcheck`: every problem with the file
and the key path). This module does no I/O beyond reading the file.

Format: docs/drivers-modbus.md "Register map format"; maps/*.toml are complete, commented examples.
`[device]`, `[enums.X]` code -> name tables, `[[register]]` rows (telemetry, read every poll) and
`[[info]]` rows (device identity such as the serial, read once per connection, never metrics).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MAPS_DIR = Path(__file__).parent / "maps"
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


def builtin_maps() -> list[Path]:
    """Every map shipped with the package."""
    return sorted(MAPS_DIR.glob("*.toml"))


def load_builtin(stem: str) -> RegisterMap:
    return load_map(MAPS_DIR / f"{stem}.toml")


def load_map(path: str | Path) -> RegisterMap:
    """Read and validate one map file; raises MapError listing all problems."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MapError(f"{path.name}: cannot read map: {exc}") from None
    from drivers.modbus.mapcheck import check  # the validation rules: drivers/modbus/mapcheck.py

    return check(raw, path)
