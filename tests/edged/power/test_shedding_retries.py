"""Load shedding acts once per step, and tries again only after `RETRY_S`.

The shedding service ticks every `[power] tick` (seconds). Its commands must not follow that
rhythm: a PiBox that is still up after `poweroff` (slow to stop, or the command failed) must not
get one a tick, a service that failed to start is started again `RETRY_S` later (neither every
tick nor never), and a box that boots at the shutdown level gets `RETRY_S` for its battery to
recover first. Real parts here
(config parser, Writer on a real SQLite file, alarm and power services); the commands append to
a file, so what ran, and how often, is read back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edged.clock import ClockWatch
from edged.config.loader import parse
from edged.power import shedding as shedding_module
from edged.power.service import PowerService
from edged.power.shedding import KV_KEY, SheddingService
from edged.readings import Sample
from edged.services.alarms import AlarmService
from maintenance.energy.shedding import Level
from telemetry.rows import KvRow
from telemetry.writer import Writer

TICKS = 6


@pytest.fixture
def site(tmp_path):
    """(make, commands): `make()` gives a power service whose load shedding is restored."""
    log = tmp_path / "commands.log"
    log.touch()
    writers: list[Writer] = []

    def make(start_fails: bool = False, stored: str | None = None) -> PowerService:
        start = f"echo start {{service}} >> {log}" + ("; exit 1" if start_fails else "")
        raw = {
            "site": {"id": "s"},
            "devices": [{"id": "bmv", "driver": "vedirect", "port": "/dev/ttyUSB0"}],
            "storage": {"path": str(tmp_path / "edged.db")},
            "power": {"capacity_wh": 2400},
            "shedding": {
                "services": ["openclinic"],
                "shutdown_soc": 10,
                "shutdown_recover_soc": 25,
                "stop_command": ["sh", "-c", f"echo stop {{service}} >> {log}"],
                "start_command": ["sh", "-c", start],
                "shutdown_command": ["sh", "-c", f"echo poweroff >> {log}"],
            },
        }
        config = parse(raw)
        writer = Writer(Path(config.storage.path), publish_interval=60.0, commit_interval=3600.0)
        writer.start()
        writers.append(writer)
        if stored is not None:
            writer.put_row(KvRow(KV_KEY, stored))
            assert writer.flush()
        alarms = AlarmService(config, writer, None)
        power = PowerService(config, writer, None, alarms, ClockWatch(), tmp_path / "live.json")
        assert power.shedding is not None
        power.shedding.restore()
        return power

    yield make, log
    for writer in writers:
        writer.stop()


def battery(power: PowerService, soc: float) -> None:
    power.observe(Sample("bmv", 1_790_000_000.0, True, {"battery_soc": soc}))


def shedding(power: PowerService) -> SheddingService:
    assert power.shedding is not None
    return power.shedding


def ran(log: Path) -> list[str]:
    return log.read_text().split()


def test_a_shutdown_runs_once_while_the_battery_stays_low(site):
    make, log = site
    power = make()
    service = shedding(power)
    battery(power, 9.0)
    for _ in range(TICKS):
        service.tick()
    assert service.level is Level.SHUTDOWN
    assert ran(log).count("poweroff") == 1  # was one per tick


def test_a_shutdown_is_tried_again_after_retry_s_while_the_battery_stays_low(site, monkeypatch):
    make, log = site
    power = make()
    service = shedding(power)
    battery(power, 9.0)
    for _ in range(TICKS):  # the services stopped first, the shutdown a tick later
        service.tick()
    assert ran(log).count("poweroff") == 1
    monkeypatch.setattr(shedding_module, "RETRY_S", 0.0)  # the box is still up RETRY_S later
    service.tick()
    assert ran(log).count("poweroff") == 2


def test_a_failed_start_is_retried_after_retry_s_not_every_tick(site, monkeypatch):
    make, log = site
    power = make(start_fails=True)
    service = shedding(power)
    battery(power, 18.0)
    service.tick()
    assert service.level is Level.STOP_SERVICES
    battery(power, 45.0)
    for _ in range(TICKS):
        service.tick()
    assert service.level is Level.NORMAL
    assert ran(log).count("start") == 1  # the failed start, once
    monkeypatch.setattr(shedding_module, "RETRY_S", 0.0)
    service.tick()
    assert ran(log).count("start") == 2  # was never retried: each tick forgot the failure


def test_a_boot_at_the_shutdown_level_gives_the_battery_retry_s_first(site):
    make, log = site
    power = make(stored=json.dumps({"level": "shutdown", "since": 1_790_000_000.0}))
    service = shedding(power)
    assert service.level is Level.SHUTDOWN
    battery(power, 9.0)
    for _ in range(TICKS):
        service.tick()
    assert ran(log).count("poweroff") == 0  # no shutdown loop at boot: was one per tick
    assert ran(log).count("stop") == 1  # the services the boot started are stopped again
