"""Fixtures of the publisher tests: a database path, an open database, publishers stopped at
the end of the test."""

from __future__ import annotations

import pytest

from edged.config.settings import Config
from telemetry.mqtt import Publisher
from telemetry.store import open_db
from tests.peers.broker import Broker


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "edged.db")


@pytest.fixture
def db(db_path):
    database = open_db(db_path)
    yield database
    database.close()


@pytest.fixture
def publishers():
    started: list[Publisher] = []

    def make(config: Config, db_path: str, ack) -> Publisher:
        publisher = Publisher(config, db_path, ack)
        started.append(publisher)
        publisher.start()
        return publisher

    yield make
    for publisher in started:
        publisher.stop()


@pytest.fixture
def persistent_broker(tmp_path):
    """A broker that keeps sessions across restarts, so a subscriber misses nothing meanwhile."""
    b = Broker(tmp_path, extra_conf=f"persistence true\npersistence_location {tmp_path}/\n")
    b.start()
    yield b
    b.stop()
