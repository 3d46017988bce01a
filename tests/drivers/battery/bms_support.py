"""Helpers the BMS codec/driver tests share: capture files, parser properties, polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.base import DeviceUnavailable, ProtocolError
from drivers.battery.common import Rejected
from edged.metrics import CATALOGUE

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def load_capture(name: str) -> dict[str, bytes]:
    """`name = HEX BYTES` lines of tests/captures/<name>.txt (`#` lines are provenance)."""
    out: dict[str, bytes] = {}
    for line in (CAPTURES / f"{name}.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = bytes.fromhex(value.replace(" ", ""))
    return out


def feed_all(parser: Any, data: bytes, cuts: list[int] | None = None) -> list[Any]:
    """Feed `data` split at `cuts` (sorted offsets), then flush; all events in order."""
    events: list[Any] = []
    last = 0
    for cut in sorted(cuts or []):
        cut = min(max(cut, last), len(data))
        events += parser.feed(data[last:cut])
        last = cut
    events += parser.feed(data[last:])
    return events + parser.flush()


def frames_of(events: list[Any]) -> list[Any]:
    return [e for e in events if not isinstance(e, Rejected)]


def rejected_bytes(events: list[Any]) -> int:
    return sum(e.nbytes for e in events if isinstance(e, Rejected))


def corrupt_one_byte(frame: bytes, index: int, xor: int) -> bytes:
    """The frame with one byte changed (xor != 0), for checksum-failure properties."""
    i = index % len(frame)
    return frame[:i] + bytes([frame[i] ^ (xor or 1)]) + frame[i + 1 :]


def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll `predicate` until true or timeout (no fixed sleeps in tests)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def assert_catalogue(reading: Any) -> None:
    """Only catalogue metric names, with text only where the catalogue says text."""
    for name, value in reading.metrics.items():
        assert name in CATALOGUE, name
        assert isinstance(value, str) == CATALOGUE[name].text, name
    assert all(isinstance(v, int | float | str) for v in reading.extra.values())


# --- driver ↔ emulator fault behaviour, the same for every BMS driver -------------------------


def check_malformed_answer(driver: Any, emulator: Any, reason: str) -> None:
    """A corrupt answer → ProtocolError at once (not at the deadline), counted under `reason`."""
    emulator.set_fault("malformed")
    start = time.monotonic()
    with pytest.raises(ProtocolError):
        driver.read(start + 20)
    # at once, not at the deadline: far from 20 s even on a loaded machine
    assert time.monotonic() - start < 10.0
    assert driver.counters.reasons[reason] >= 1


def check_partial_answer(driver: Any, emulator: Any) -> None:
    """Half an answer, then nothing → ProtocolError at the deadline, counted as truncated."""
    emulator.set_fault("partial")
    with pytest.raises(ProtocolError):
        driver.read(time.monotonic() + 0.3)
    assert driver.counters.reasons["truncated"] >= 1


def check_silent_then_back(driver: Any, emulator: Any) -> None:
    """No answer → DeviceUnavailable within the deadline; the same driver reads when it's back."""
    emulator.set_fault("silent")
    start = time.monotonic()
    with pytest.raises(DeviceUnavailable):
        driver.read(start + 0.3)
    # not before the deadline; after it, within a margin a loaded machine can keep
    assert 0.25 < time.monotonic() - start < 0.3 + 3.0
    emulator.set_fault("ok")
    assert driver.read(time.monotonic() + 2)[0].metrics


def check_vanished_port(driver: Any, emulator: Any) -> None:
    """The pty closing under the driver (cable pulled) → DeviceUnavailable, nothing else."""
    emulator.stop()
    with pytest.raises(DeviceUnavailable):
        driver.read(time.monotonic() + 0.5)


def check_noise_tolerated(driver: Any, emulator: Any, answers: int) -> Any:
    """Line noise before each answer is counted as garbage and the reading still comes out."""
    emulator.set_fault("noisy")
    (reading,) = driver.read(time.monotonic() + 2)
    assert driver.counters.reasons["garbage"] == answers
    return reading
