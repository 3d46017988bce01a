"""The daemon's live file (`edged status`) is written by two threads: the main loop every few
seconds, and the remote service when a technician's `status` command asks for this second's
view. Both share one temporary file, so without the daemon's lock one writer's rename takes
the other's file away and the live view is marked failed for good."""

from __future__ import annotations

import json
import threading
import tomllib

from edged.config.loader import parse
from edged.daemon import Daemon
from tests.peers.daemon import write_config

WRITERS = 4
WRITES = 300


def test_concurrent_live_writes_never_fail_nor_tear_the_file(tmp_path):
    config = parse(tomllib.loads(write_config(tmp_path, devices="", broker_port=None).read_text()))
    daemon = Daemon(config)
    start = threading.Barrier(WRITERS)

    def hammer() -> None:
        start.wait()
        for _ in range(WRITES):
            daemon._write_live()

    threads = [threading.Thread(target=hammer) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not daemon.live_failed
    view = json.loads(daemon.live_path.read_text())
    assert view["devices"] == [] and view["mqtt"] is None
    assert not daemon.live_path.with_name(daemon.live_path.name + ".tmp").exists()
