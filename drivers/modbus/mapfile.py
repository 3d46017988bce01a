"""Register map files: read a TOML map, have `drivers.modbus.mapcheck` validate every key, hand
back the frozen `RegisterMap`. No I/O beyond reading the file; the shipped maps are in `maps/`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from drivers.modbus.mapcheck import check
from drivers.modbus.regmap import MapError, RegisterMap

MAPS_DIR = Path(__file__).parent / "maps"


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
    return check(raw, path)
