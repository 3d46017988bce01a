"""The rules a register map file must follow, checked once when it is loaded.

Rules over the rows of `drivers.modbus.regmap`, run by `drivers.modbus.mapfile`: every problem is
collected, not just the first, and each names the file and the key path (`epever_tracer.toml:
register[3].type: expected one of ...`), so a technician editing a user map on site can fix them
all in one go without reading Python.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drivers.modbus.regmap import (
    CONVERT,
    FUNCTIONS,
    INFO_NAMES,
    INFO_TYPES,
    TYPES,
    WORD_ORDERS,
    Field,
    InfoRegister,
    MapError,
    Register,
    RegisterMap,
)
from edged.metrics import CATALOGUE


def check(raw: Mapping, path: Path) -> RegisterMap:
    """The map in `raw` (read from `path`) as frozen rows; raises MapError listing all problems."""
    v = _Checker(path.name)
    rmap = _build(v, raw, str(path))
    if v.problems:
        raise MapError("\n".join(v.problems))
    assert rmap is not None
    return rmap


class _Checker:
    def __init__(self, fname: str) -> None:
        self.fname = fname
        self.problems: list[str] = []

    def add(self, where: str, msg: str) -> None:
        self.problems.append(f"{self.fname}: {where}: {msg}")

    def get(
        self,
        table: Mapping,
        where: str,
        key: str,
        typ: type | tuple,
        default: Any = None,
        required: bool = False,
        choices: tuple = (),
        rng: tuple[int, int] | None = None,
    ) -> Any:
        if key not in table:
            if required:
                self.add(f"{where}{key}", "required key is missing")
            return default
        val = table[key]
        types = typ if isinstance(typ, tuple) else (typ,)
        if isinstance(val, bool) and bool not in types or not isinstance(val, types):
            self.add(
                f"{where}{key}",
                f"expected {'/'.join(t.__name__ for t in types)}, got {type(val).__name__} {val!r}",
            )
            return default
        if choices and val not in choices:
            self.add(
                f"{where}{key}", f"expected one of {', '.join(map(str, choices))}, got {val!r}"
            )
            return default
        if rng and not rng[0] <= val <= rng[1]:
            self.add(f"{where}{key}", f"expected {rng[0]}..{rng[1]}, got {val!r}")
            return default
        return val

    def unknown(self, table: Mapping, where: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                self.add(f"{where}{key}", f"unknown key; expected one of {', '.join(allowed)}")

    def metric(self, where: str, name: Any, text: bool | None) -> str | None:
        if name is None:
            return None
        m = CATALOGUE.get(name)
        if m is None:
            self.add(where, f"expected a catalogue metric name, got {name!r}")
        elif text is not None and m.text != text:
            self.add(where, f"expected a {'text' if text else 'numeric'} metric, got {name!r}")
        else:
            return name
        return None


_DEVICE_KEYS = ("name", "product", "function", "word_order", "max_registers", "max_gap", "source")
_REG_KEYS = (
    "address",
    "function",
    "type",
    "metric",
    "scale",
    "unit",
    "min",
    "max",
    "na",
    "wraps",
    "alone",
    "enum",
    "text_metric",
    "field",
    "note",
)
_FIELD_KEYS = ("lsb", "width", "mask", "when", "enum", "metric", "alarm", "name", "note")
_INFO_KEYS = ("name", "address", "function", "type", "count", "note")


def _build(v: _Checker, raw: Mapping, path: str) -> RegisterMap | None:
    v.unknown(raw, "", ("device", "enums", "register", "info"))
    dev = v.get(raw, "", "device", dict, {}, required=True)
    v.unknown(dev, "device.", _DEVICE_KEYS)
    name = v.get(dev, "device.", "name", str, "", required=True)
    function = v.get(dev, "device.", "function", int, 3, choices=FUNCTIONS)
    enums = _enums(v, v.get(raw, "", "enums", dict, {}))
    regs_raw = v.get(raw, "", "register", list, [], required=True)
    regs = [_register(v, r, f"register[{i}]", function, enums) for i, r in enumerate(regs_raw)]
    registers = tuple(r for r in regs if r is not None)
    _overlaps(v, registers)
    info = _info(v, v.get(raw, "", "info", list, []), function)
    return RegisterMap(
        name=name,
        product=v.get(dev, "device.", "product", str, name),
        path=path,
        word_order=v.get(dev, "device.", "word_order", str, "high_first", choices=WORD_ORDERS),
        max_registers=v.get(dev, "device.", "max_registers", int, 125, rng=(1, 125)),
        max_gap=v.get(dev, "device.", "max_gap", int, 0, rng=(0, 125)),
        enums=enums,
        registers=registers,
        info=info,
    )


def _enums(v: _Checker, raw: Mapping) -> dict[str, dict[int, str]]:
    out: dict[str, dict[int, str]] = {}
    for ename, table in raw.items():
        if not isinstance(table, dict):
            v.add(f"enums.{ename}", f'expected a table of code = "name", got {table!r}')
            continue
        out[ename] = {}
        for code, text in table.items():
            try:
                num = int(code, 0)
            except ValueError:
                v.add(f"enums.{ename}.{code}", "expected an integer code as key")
                continue
            if not isinstance(text, str):
                v.add(f"enums.{ename}.{code}", f"expected a string name, got {text!r}")
                continue
            out[ename][num] = text
    return out


def _register(v: _Checker, r: Any, where: str, function: int, enums: Mapping) -> Register | None:
    if not isinstance(r, dict):
        v.add(where, f"expected a table, got {r!r}")
        return None
    start = len(v.problems)
    w = where + "."
    v.unknown(r, w, _REG_KEYS)
    address = v.get(r, w, "address", int, 0, required=True, rng=(0, 0xFFFF))
    rtype = v.get(r, w, "type", str, "uint16", required=True, choices=tuple(TYPES))
    scale = v.get(r, w, "scale", (int, float), 1)
    if not scale or not math.isfinite(scale):
        v.add(w + "scale", f"expected a non-zero finite number, got {scale!r}")
    metric = v.metric(w + "metric", v.get(r, w, "metric", str), None)
    enum = _enum_ref(v, w + "enum", v.get(r, w, "enum", str), enums)
    text_metric = v.metric(w + "text_metric", v.get(r, w, "text_metric", str), True)
    if metric and CATALOGUE[metric].text:
        v.add(w + "metric", f"text metric {metric!r} belongs in text_metric (with an enum)")
    if (enum is None) != (text_metric is None):
        v.add(w + "enum", "enum and text_metric go together")
    built = [
        _field(v, f, f"{w}field[{i}]", enums) for i, f in enumerate(v.get(r, w, "field", list, []))
    ]
    fields = tuple(f for f in built if f is not None)
    if not any(k in r for k in ("metric", "text_metric", "field")):
        v.add(where, "expected at least one of metric, text_metric or field")
    na = v.get(r, w, "na", list, [])
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in na):
        v.add(w + "na", f"expected a list of raw integers, got {na!r}")
    factor = _factor(v, w + "unit", v.get(r, w, "unit", str), metric)
    if len(v.problems) > start:
        return None
    return Register(
        key=where,
        address=address,
        function=v.get(r, w, "function", int, function, choices=FUNCTIONS),
        type=rtype,
        metric=metric,
        scale=float(scale),
        factor=factor,
        lo=v.get(r, w, "min", (int, float)),
        hi=v.get(r, w, "max", (int, float)),
        na=tuple(na),
        wraps=v.get(r, w, "wraps", bool, False),
        alone=v.get(r, w, "alone", bool, False),
        enum=enum,
        text_metric=text_metric,
        fields=fields,
    )


def _field(v: _Checker, f: Any, where: str, enums: Mapping) -> Field | None:
    if not isinstance(f, dict):
        v.add(where, f"expected a table, got {f!r}")
        return None
    start = len(v.problems)
    w = where + "."
    v.unknown(f, w, _FIELD_KEYS)
    lsb = v.get(f, w, "lsb", int, 0, rng=(0, 31))
    width = v.get(f, w, "width", int, 1, rng=(1, 32))
    mask = v.get(f, w, "mask", int)
    if ("lsb" in f) == (mask is not None):
        v.add(where, "expected exactly one of lsb or mask")
    enum = _enum_ref(v, w + "enum", v.get(f, w, "enum", str), enums)
    metric = v.metric(w + "metric", v.get(f, w, "metric", str), None)
    alarm = v.metric(w + "alarm", v.get(f, w, "alarm", str), True)
    name = v.get(f, w, "name", str)
    if (metric is None) == (alarm is None):
        v.add(where, "expected exactly one of metric or alarm")
    if metric and CATALOGUE[metric].text and enum is None:
        v.add(w + "enum", f"required for text metric {metric!r}")
    if alarm and enum is None and name is None:
        v.add(w + "name", "required for an alarm bit without enum")
    when = _when(v, w + "when", f.get("when"))
    if len(v.problems) > start:
        return None
    return Field(where, lsb, width, mask, enum, metric, alarm, name, when)


def _when(v: _Checker, where: str, when: Any) -> tuple[int, int] | None:
    """`when = [mask, value]`: two 16/32-bit integers, the value's bits inside the mask."""
    if when is None:
        return None
    ok = (
        isinstance(when, list)
        and len(when) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**32 for x in when)
    )
    if not ok:
        v.add(where, f"expected [mask, value], two integers 0..2^32-1, got {when!r}")
        return None
    mask, value = when
    if mask == 0 or value & ~mask:
        v.add(where, f"expected a non-zero mask and a value inside it, got {when!r}")
        return None
    return (mask, value)


def _info(v: _Checker, rows: list, function: int) -> tuple[InfoRegister, ...]:
    out: list[InfoRegister] = []
    for i, r in enumerate(rows):
        where, w, start = f"info[{i}]", f"info[{i}].", len(v.problems)
        if not isinstance(r, dict):
            v.add(where, f"expected a table, got {r!r}")
            continue
        v.unknown(r, w, _INFO_KEYS)
        name = v.get(r, w, "name", str, "", required=True, choices=INFO_NAMES)
        if name and any(o.name == name for o in out):
            v.add(w + "name", f"{name!r} is already read by an earlier [[info]] row")
        row = InfoRegister(
            key=where,
            name=name,
            address=v.get(r, w, "address", int, 0, required=True, rng=(0, 0xFFFF)),
            function=v.get(r, w, "function", int, function, choices=FUNCTIONS),
            type=v.get(r, w, "type", str, "string", required=True, choices=INFO_TYPES),
            count=v.get(r, w, "count", int, 1, required=True, rng=(1, 125)),
        )
        if len(v.problems) == start:
            out.append(row)
    _overlaps(v, tuple(out))
    return tuple(out)


def _enum_ref(v: _Checker, where: str, name: str | None, enums: Mapping) -> str | None:
    if name is not None and name not in enums:
        v.add(
            where,
            f"expected one of the [enums] tables ({', '.join(enums) or 'none'}), got {name!r}",
        )
        return None
    return name


def _factor(v: _Checker, where: str, unit: str | None, metric: str | None) -> float:
    if unit is None or metric is None or unit == CATALOGUE[metric].unit:
        return 1.0
    factor = CONVERT.get((unit, CATALOGUE[metric].unit))
    if factor is None:
        v.add(where, f"cannot convert {unit!r} to {metric}'s unit {CATALOGUE[metric].unit!r}")
        return 1.0
    return factor


def _overlaps(v: _Checker, registers: tuple[Register, ...] | tuple[InfoRegister, ...]) -> None:
    owner: dict[tuple[int, int], str] = {}
    for reg in registers:
        for a in range(reg.address, reg.address + reg.width):
            other = owner.setdefault((reg.function, a), reg.key)
            if other != reg.key:
                v.add(
                    f"{reg.key}.address", f"register {a:#06x} (fc {reg.function}) overlaps {other}"
                )
