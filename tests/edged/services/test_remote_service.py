"""The remote service's thread, without a daemon: a flood of refusals is logged a few lines at a
time, and the line summing up the muted ones comes when the window ends, even if nothing else
arrives after the flood (a journal that only speaks at the next refusal may wait for days)."""

from __future__ import annotations

import logging
import tomllib

from edged.config.loader import parse
from edged.services import remote
from telemetry.event_log import EventLog
from tests.peers.daemon import write_config
from tests.peers.replay import wait_until

FLOOD = 10


def test_a_flood_of_refusals_is_summed_up_when_its_window_ends(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(remote, "TICK_EVERY", 0.05)
    remote_on = "[remote]\nenabled = true\n"  # the port is never connected to: config only
    text = write_config(tmp_path, devices="", broker_port=1883, extra=remote_on)
    config = parse(tomllib.loads(text.read_text()))
    service = remote.RemoteService(config)
    service._refusals = EventLog(remote.log, "remote commands refused", burst=2, window=0.5)
    caplog.set_level(logging.INFO, logger=remote.log.name)
    service.start()
    try:
        for _ in range(FLOOD):
            service.receive(f"{config.topic_root}/cmd/ping", b"\xff not json")
        wait_until(lambda: service.stats["refused"] == FLOOD, 15, what="the flood refused")
        assert service.stats["errors"] == {"malformed": FLOOD}
        wait_until(
            lambda: "8 transitions not logged" in caplog.text, 15, what="the muted ones summed up"
        )
        assert caplog.text.count("refused: malformed") == 2 + 1  # the burst, then the summary
    finally:
        service.stop()
