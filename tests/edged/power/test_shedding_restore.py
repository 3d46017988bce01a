"""The stored load-shedding level survives a reboot; a damaged one never stops the daemon."""

from __future__ import annotations

import json

import pytest

from edged.config.settings import Config
from edged.config.site import SiteConfig, StorageConfig
from edged.power.shedding import KV_KEY, SheddingService
from maintenance.energy.shedding import Level
from telemetry.rows import KvRow
from telemetry.writer import Writer


def restored(tmp_path, stored: str) -> SheddingService:
    path = tmp_path / "edged.db"
    w = Writer(path, publish_interval=60.0, commit_interval=3600.0)
    w.start()
    try:
        w.put_row(KvRow(KV_KEY, stored))
        assert w.flush()
        config = Config(site=SiteConfig("t"), storage=StorageConfig(path=str(path)))
        service = SheddingService(config, w, None, None, None, None, lambda: True)
        service.restore()
        return service
    finally:
        w.stop()


def test_the_stored_level_is_restored(tmp_path):
    service = restored(tmp_path, json.dumps({"level": "warn", "since": 5.0}))
    assert (service.level, service.since) == (Level.WARN, 5.0)


@pytest.mark.parametrize(
    "stored", ['{"level": "wa\x01rn"', '{"level": "panic", "since": 1}', '{"since": 1}', "[]"]
)
def test_a_damaged_stored_level_starts_at_normal(tmp_path, stored, caplog):
    service = restored(tmp_path, stored)
    assert service.level is Level.NORMAL
    assert "unreadable" in caplog.text
