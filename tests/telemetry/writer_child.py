"""Child process for tests/telemetry/test_writer_replay.py: a Writer until the test SIGKILLs it.

Usage: python -m tests.telemetry.writer_child DB START_TS. Puts one sample per simulated second,
commits every 7 samples and prints `committed N` after each commit, forever.
"""

from __future__ import annotations

import sys

from edged.readings import Sample
from telemetry.writer import Writer


def sample(start_ts: float, i: int) -> Sample:
    return Sample(
        "mppt", start_ts + i, True, {"battery_voltage": 12 + i % 50 / 100, "yield_total": i}
    )


def main() -> None:
    path, start_ts = sys.argv[1], float(sys.argv[2])
    writer = Writer(path, publish_interval=60.0, commit_interval=3600.0)
    writer.start()
    i = 0
    while True:
        writer.put(sample(start_ts, i))
        i += 1
        if i % 7 == 0:
            writer.flush()
            print(f"committed {i}", flush=True)


if __name__ == "__main__":
    main()
