"""Commits come faster while a battery is low, and go back with hysteresis."""

from __future__ import annotations

from edged.readings import Sample
from telemetry.cadence import CommitCadence


def soc(device: str, value: float) -> Sample:
    return Sample(device, 0.0, True, {"battery_soc": value})


def test_low_battery_speeds_up_commits_until_every_bank_recovers():
    c = CommitCadence(normal=180, low_battery=15, threshold=30)
    assert c.observe(Sample("mppt", 0.0, True, {"pv_power": 100})) is None
    assert c.observe(soc("bmv", 45)) is None and c.interval == 180
    assert c.observe(soc("bmv", 29.9)) == 15
    assert c.observe(soc("bms", 20)) is None  # already fast
    assert c.observe(soc("bmv", 33)) is None  # inside the hysteresis band: stays fast
    assert c.observe(soc("bmv", 35)) is None  # bmv back, but bms still low
    assert c.observe(soc("bms", 36)) == 180
    assert c.interval == 180


def test_writer_replans_its_next_commit_when_the_cadence_changes(tmp_path):
    import time

    from telemetry.writer import Writer

    writer = Writer(str(tmp_path / "e.db"), publish_interval=60, commit_interval=3600)
    writer.start()
    try:
        writer.put(Sample("bmv", time.time(), True, {"battery_soc": 25.0}))
        time.sleep(0.3)
        assert writer.stats["commits"] == 0  # an hour away
        writer.set_commit_interval(0.2)
        deadline = time.monotonic() + 5
        while writer.stats["commits"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.stats["commits"] >= 1
        assert writer.stats["samples_written"] == 1
    finally:
        writer.stop()
