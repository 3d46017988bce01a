"""Which drivers exist: each driver name maps to the `module:attribute` of its `DriverSpec`.

A table, not a side effect: importing this module imports no driver, and a spec's module is
imported only when that driver is asked for (the config loader asks for the drivers a site
uses). A spec module imports its transport library (pymodbus, pyserial) only when a device is
built. Adding a driver = one line here plus its own folder; nothing else in the core changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from drivers.base import DriverSpec

BUILTIN: dict[str, str] = {
    "vedirect": "drivers.victron.vedirect.spec:SPEC",
    "victron-gx": "drivers.modbus.spec:GX",
    "epever": "drivers.modbus.spec:EPEVER",
    "jbd": "drivers.battery.jbd.spec:SPEC",
    "daly": "drivers.battery.daly.spec:SPEC",
    "jkbms": "drivers.battery.jkbms.spec:SPEC",
    "pylontech": "drivers.battery.pylontech.spec:SPEC",
}


class Registry(Mapping[str, DriverSpec]):
    """Driver name -> DriverSpec, each spec loaded on first use from its `module:attribute`."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = dict(table)
        self._loaded: dict[str, DriverSpec] = {}

    def __getitem__(self, name: str) -> DriverSpec:
        spec = self._loaded.get(name)
        if spec is None:
            module, _, attribute = self._table[name].partition(":")
            spec = getattr(importlib.import_module(module), attribute)
            if not isinstance(spec, DriverSpec) or spec.name != name:
                raise TypeError(f"{self._table[name]!r} is not the DriverSpec of {name!r}")
            self._loaded[name] = spec
        return spec

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


_BUILTIN = Registry(BUILTIN)


def registry() -> Mapping[str, DriverSpec]:
    """Every known driver by name; a spec's module is imported when that name is looked up."""
    return _BUILTIN
