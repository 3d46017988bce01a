"""`edged simulate`: the whole daemon on emulated devices, for demos, newcomers and benchmarks.

Starts the product's device emulators (the same ones the tests use) — VE.Direct MPPT and BMV on
pseudo-terminals, a Victron GX answering Modbus-TCP on a free loopback port, an EPEver Tracer
answering Modbus-RTU on a pseudo-terminal, a JBD BMS on a pseudo-terminal — writes a config that
points the daemon at them, validates it like any other config, and runs the daemon. With no broker
reachable the records simply wait in the outbox; with one on localhost they flow.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edged.cli.run import run_daemon
from edged.config.loader import ConfigError, load
from telemetry.demo_clinic import build_demo_clinic_database, demo_clinic_dump_command

log = logging.getLogger(__name__)


class Emulator(Protocol):
    def start(self) -> Any: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Emulated:
    """One emulated device: how to start its emulator and the config lines that read it."""

    build: Callable[[Path], tuple[Emulator, list[str]]]
    """Given the working folder: an unstarted emulator and the `[[devices]]` tables for it."""


def _vedirect(model: str, dev: str) -> Emulated:
    def build(workdir: Path) -> tuple[Emulator, list[str]]:
        from drivers.victron.vedirect.emulator import PtyEmulator

        link = workdir / f"tty-{dev}"
        return PtyEmulator(model, link=str(link)), [_device(dev, "vedirect", port=str(link))]

    return Emulated(build)


def _gx(workdir: Path) -> tuple[Emulator, list[str]]:
    from drivers.modbus.simulator import GxSimulator, free_port

    port = free_port()
    devices = [
        _device("gx-system", "victron-gx", host="127.0.0.1", port=port, service="system"),
        _device(
            "gx-mppt", "victron-gx", host="127.0.0.1", port=port, service="solarcharger", unit=245
        ),
        _device(
            "gx-battery", "victron-gx", host="127.0.0.1", port=port, service="battery", unit=247
        ),
    ]
    return GxSimulator(port), devices


def _epever(workdir: Path) -> tuple[Emulator, list[str]]:
    from drivers.modbus.simulator import EpeverSimulator

    link = workdir / "tty-epever"
    return EpeverSimulator(address=1, link=str(link)), [
        _device("epever", "epever", port=str(link), address=1)
    ]


def _bms(protocol: str) -> Emulated:
    def build(workdir: Path) -> tuple[Emulator, list[str]]:
        from drivers.battery.emulators import make_emulator

        link = workdir / f"tty-{protocol}"
        emulator = make_emulator(protocol, str(link), seed=7)
        return emulator, [_device(f"bms-{protocol}", protocol, port=str(link))]

    return Emulated(build)


SITE: tuple[Emulated, ...] = (
    _vedirect("mppt", "mppt"),
    _vedirect("bmv", "bmv"),
    Emulated(_gx),
    Emulated(_epever),
    _bms("jbd"),
)


def _device(dev_id: str, driver: str, **options: Any) -> str:
    lines = [f'[[devices]]\nid = "{dev_id}"\ndriver = "{driver}"']
    for key, value in options.items():
        lines.append(f'{key} = "{value}"' if isinstance(value, str) else f"{key} = {value}")
    return "\n".join(lines) + "\n"


def write_config(workdir: Path, args: argparse.Namespace, devices: list[str]) -> Path:
    host, _, port = args.broker.partition(":")
    path = workdir / "edged.toml"
    extra = "".join(f"{key} = {value}\n" for key, value in getattr(args, "storage", []))
    path.write_text(
        f"""# Written by `edged simulate`: emulated devices, see edged/cli/simulate.py.
[site]
id = "simulation"
name = "CSCOM simulé"

[storage]
path = "{workdir / "edged.db"}"
live_path = "{_runtime_dir(workdir) / "live.json"}"
reports_dir = "{workdir / "reports"}"
{extra}
[mqtt]
enabled = {"false" if args.no_mqtt else "true"}
host = "{host or "127.0.0.1"}"
port = {int(port or 1883)}

[telemetry]
publish_interval = {args.publish_interval}
compress_history = true
payload = "compact"

[health]
data_path = "{workdir}"

"""
        + _power(workdir)
        + "\n".join(devices)
    )
    return path


def storage_option(text: str) -> tuple[str, str]:
    """`--storage KEY=VALUE`: a key of `[storage]` and a TOML value, checked here so the
    generated file stays valid TOML; whether the key and its value make sense is the config
    check's job (an unknown key or a wrong type: exit 2, the problem named)."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not re.fullmatch(r"[a-z_]+", key):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a [storage] key, got {text!r}")
    try:  # one line, one value: nothing after it (a table header, another key) gets in
        if "\n" in value or "\r" in value or set(tomllib.loads(f"v = {value}")) != {"v"}:
            raise tomllib.TOMLDecodeError("one value on one line expected")
    except tomllib.TOMLDecodeError as exc:
        raise argparse.ArgumentTypeError(f"{key}: {value!r} is not a TOML value ({exc})") from exc
    return key, value


def _runtime_dir(workdir: Path) -> Path:
    """Where the live view goes: RAM, as /run/edged is on a site. The daemon rewrites it every
    few seconds; in the working folder on disk that alone wrote ~190 MB a day, more than the
    whole site's storage (bench/bench_site.py). The working folder only without a tmpfs."""
    for base in (os.environ.get("XDG_RUNTIME_DIR"), "/dev/shm"):
        if base and Path(base).is_dir() and os.access(base, os.W_OK):
            digest = hashlib.sha1(str(workdir).encode()).hexdigest()[:8]
            return Path(base) / f"edged-simulation-{digest}"
    return workdir


def _power(workdir: Path) -> str:
    """A backup of a demo clinic database (the real script, a SQLite dump standing in for
    MariaDB) run when the simulated battery allows, and load shedding with no service to stop."""
    clinic = workdir / "openclinic-demo.db"
    build_demo_clinic_database(clinic)
    dump = demo_clinic_dump_command(clinic)
    command = [str(BACKUP_SCRIPT), "--dest", str(workdir / "usb-backups"), "--dump-command", dump]
    (workdir / "usb-backups").mkdir(exist_ok=True)
    return f"""[power]
battery = "bmv"
capacity_wh = 2400
tick = 15

[shedding]

[[jobs]]
name = "backup-openclinic"
kind = "backup"
command = {json.dumps(command)}
max_duration = 600
power_w = 12
windows = [["00:00", "24:00"]]

"""


BACKUP_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "backup-openclinic"


def simulate(args: argparse.Namespace) -> int:
    workdir = Path(args.dir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started: list[Emulator] = []
    devices: list[str] = []
    try:
        for emulated in SITE:
            emulator, tables = emulated.build(workdir)
            emulator.start()
            started.append(emulator)
            devices.extend(tables)
        path = write_config(workdir, args, devices)
        try:
            config = load(str(path))
        except ConfigError as exc:
            log.error("generated config is invalid:\n%s", exc)
            return 2
        log.info("simulated site in %s; `edged status --config %s` shows it", workdir, path)
        return run_daemon(config, stop_after=args.seconds)
    finally:
        for emulator in reversed(started):
            emulator.stop()
