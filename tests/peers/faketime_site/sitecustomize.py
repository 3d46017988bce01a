"""Loaded by a Python started under libfaketime by tests/peers/faketime.py (via PYTHONPATH).

libfaketime 0.9.10 breaks `clock_nanosleep` when it fakes only the wall clock
(FAKETIME_DONT_FAKE_MONOTONIC=1): Python's `time.sleep` fails with EINVAL. Sleeping on a
condition variable (monotonic, not intercepted) is what `time.sleep` means anyway. Nothing else
is changed: the wall clock the process sees is libfaketime's, jumps included.
"""

import threading
import time

_never = threading.Event()


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    _never.wait(seconds)


time.sleep = _sleep
