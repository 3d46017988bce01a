"""Writers on temporary databases for the tests, and the samples they are handed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edged.readings import Sample
from telemetry.writer import Writer

T0 = 1_699_999_990.0  # 10 s into a 60 s window


def mppt(ts: float, v: float = 13.0, **extra) -> Sample:
    """A charge controller's sample: its battery voltage and charger state (and `extra`)."""
    return Sample("mppt", ts, True, {"battery_voltage": v, "charger_state": "bulk", **extra})


def mppt_voltage(ts: float, v: float = 13.0) -> Sample:
    """A charge controller's sample holding its battery voltage only."""
    return Sample("mppt", ts, True, {"battery_voltage": v})


@contextmanager
def running_writers(tmp_path: Path) -> Iterator[Callable[..., Writer]]:
    """`make(**kw)` starts a Writer on `tmp_path/edged.db` (60-s windows, hour commits unless
    `kw` says otherwise); every one made is stopped on the way out."""
    writers: list[Writer] = []

    def make(**kw) -> Writer:
        kw = {"publish_interval": 60.0, "commit_interval": 3600.0, **kw}
        w = Writer(tmp_path / "edged.db", **kw)
        w.start()
        writers.append(w)
        return w

    try:
        yield make
    finally:
        for w in writers:
            w.stop()


def poll(predicate, timeout: float = 10.0):
    """Wait until `predicate()` is true, checking often (a fold or a commit is quick)."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.005)
    return result
