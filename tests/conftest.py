"""Shared fixtures: real peers (mosquitto) that many test modules use."""

from __future__ import annotations

import pytest

from tests.peers.broker import Broker


@pytest.fixture
def broker(tmp_path):
    """A running mosquitto on a free loopback port; tests may stop()/start() it."""
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()
