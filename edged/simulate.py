"""`edged simulate`: the whole daemon on emulated devices, for demos, newcomers and benchmarks.

Starts device emulators on pseudo-terminals (the same emulators the tests use), writes a config
that points the daemon at them, validates it like any other config, and runs the daemon. With no
broker reachable the records simply wait in the outbox; with one on localhost they flow.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from drivers.victron.vedirect.emulator import PtyEmulator
from edged.cli import run_daemon
from edged.config import ConfigError, load

log = logging.getLogger(__name__)

EMULATED = (
    # (device id, emulator model, driver)
    ("mppt", "mppt", "vedirect"),
    ("bmv", "bmv", "vedirect"),
)


def write_config(workdir: Path, args: argparse.Namespace) -> Path:
    host, _, port = args.broker.partition(":")
    devices = "".join(
        f'\n[[devices]]\nid = "{dev}"\ndriver = "{driver}"\nport = "{workdir / ("tty-" + dev)}"\n'
        for dev, _model, driver in EMULATED
    )
    path = workdir / "edged.toml"
    path.write_text(
        f"""# Written by `edged simulate`: emulated devices on pseudo-terminals.
[site]
id = "simulation"
name = "CSCOM simulé"

[storage]
path = "{workdir / "edged.db"}"
commit_interval = 10

[mqtt]
enabled = {"false" if args.no_mqtt else "true"}
host = "{host or "127.0.0.1"}"
port = {int(port or 1883)}

[telemetry]
publish_interval = {args.publish_interval}
{devices}"""
    )
    return path


def simulate(args: argparse.Namespace) -> int:
    workdir = Path(args.dir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    emulators = [PtyEmulator(model, link=str(workdir / f"tty-{dev}")) for dev, model, _ in EMULATED]
    for emulator in emulators:
        emulator.start()
    try:
        path = write_config(workdir, args)
        try:
            config = load(str(path))
        except ConfigError as exc:
            log.error("generated config is invalid:\n%s", exc)
            return 2
        log.info("simulated site in %s; `edged status --config %s` shows it", workdir, path)
        return run_daemon(config, stop_after=args.seconds)
    finally:
        for emulator in emulators:
            emulator.stop()
