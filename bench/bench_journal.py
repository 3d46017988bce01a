"""What the daemon writes to the journal (on the SD card) per day: steady, and under a fault.

Runs `edged run` at the service's log level (INFO) as a real subprocess on one VE.Direct BMV
replaying a real capture on a pseudo-terminal, MQTT disabled, and counts the lines and bytes of
its log after a warm-up, extrapolated to a day. With --flap the cable's contact fails for half
a second every two seconds for the whole run (a device flapping: the fault that used to log two
lines a second). The journal's own overhead per entry (its fields, index, compression) is not
counted: these are the message bytes journald receives.

    .venv/bin/python bench/bench_journal.py --minutes 12
    .venv/bin/python bench/bench_journal.py --minutes 12 --flap
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' peers, not installed

from tests.e2e.test_vedirect import capture_bytes  # noqa: E402
from tests.peers.replay import ReplayPty  # noqa: E402

WARMUP = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--flap", action="store_true", help="unplug/replug every 2 s")
    parser.add_argument("--show", action="store_true", help="print the lines counted")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        emulator = ReplayPty(
            work / "tty-bmv", [capture_bytes("vedirect_a3_bmv700_main_history.hex")]
        )
        emulator.start()
        config = work / "edged.toml"
        live = Path("/dev/shm") / f"edged-bench-journal-{work.name}"  # a daemon's own folder
        config.write_text(
            f'[site]\nid = "bench"\nname = "Bench"\n\n[storage]\npath = "{work / "e.db"}"\n'
            f'live_path = "{live}/live.json"\n\n'
            f'[mqtt]\nenabled = false\n\n[[devices]]\nid = "bmv"\ndriver = "vedirect"\n'
            f'port = "{emulator.link}"\n'
        )
        log = work / "daemon.log"
        stop = threading.Event()
        flaps = 0

        def flap() -> None:
            nonlocal flaps
            while not stop.wait(1.5):
                emulator.unplug()
                stop.wait(0.5)
                emulator.replug()
                flaps += 1

        with log.open("wb") as out:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "edged.cli", "run", "--config", str(config)],
                stdout=out,
                stderr=out,
            )
            try:
                time.sleep(WARMUP)
                if args.flap:
                    threading.Thread(target=flap, daemon=True).start()
                start_bytes, start_lines = log.stat().st_size, len(log.read_bytes().splitlines())
                started = time.monotonic()
                time.sleep(args.minutes * 60)
                elapsed = time.monotonic() - started
                text = log.read_bytes()
            finally:
                stop.set()
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(60)
                emulator.stop()
                shutil.rmtree(live, ignore_errors=True)
    lines = len(text.splitlines()) - start_lines
    per_day = 86400 / elapsed
    print(f"{'flapping every 2 s' if args.flap else 'steady'}, {elapsed:.0f} s, {flaps} flaps")
    print(f"log lines: {lines} ({lines * per_day:.0f}/day)")
    written = len(text) - start_bytes
    new_lines = text.decode(errors="replace").splitlines()[start_lines:]
    # a record's first line: "date time LEVEL logger: message"; tracebacks add lines of their own
    by_logger = Counter(
        line.split()[3] if line[:2] == "20" and len(line.split()) > 3 else "(traceback)"
        for line in new_lines
    )
    print(f"log bytes: {written} ({written * per_day / 1e3:.1f} kB/day)")
    if "--show" in sys.argv:
        print("\n".join(new_lines))
    print("lines by logger:", ", ".join(f"{name} {n}" for name, n in by_logger.most_common()))


if __name__ == "__main__":
    main()
