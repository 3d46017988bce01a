"""Is the wall clock trustworthy, and did it just jump?

A Raspberry Pi has no real-time clock: at boot the time is whatever fake-hwclock saved (or 1970),
and it jumps when NTP syncs. The clock counts as synchronised when the kernel says so (`adjtimex`)
or when systemd-timesyncd has left its flag file (it touches `/run/systemd/timesync/synchronized`
at its first sync; /run is emptied at boot, so the flag means "synced since this boot"). Every
sample carries whether the clock was synchronised when it was taken, so reports and dashboards
can tell trustworthy timestamps from guesses. Jumps are detected by comparing wall and
monotonic progress, and reported once each.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

TIME_ERROR = 5
EARLIEST_PLAUSIBLE = 1_767_225_600.0  # 2026-01-01: a clock before the first release is wrong
JUMP_THRESHOLD = 5.0
TIMESYNC_FLAG = "/run/systemd/timesync/synchronized"


def _adjtimex_state() -> int | None:
    """The kernel's clock state, or None where adjtimex cannot be called (non-Linux)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    buf = ctypes.create_string_buffer(512)  # struct timex is ~208 bytes; modes=0 reads only
    state = libc.adjtimex(buf)
    return None if state < 0 else state


def kernel_says_synced() -> bool:
    state = _adjtimex_state()
    if state is None:
        return False
    return state != TIME_ERROR


@dataclass(slots=True)
class ClockWatch:
    """Tracks clock quality for the runners; cheap to call once per sample."""

    recheck_every: float = 60.0
    flag_path: str = TIMESYNC_FLAG
    _synced: bool = False
    _checked_mono: float = -1e18
    _last_wall: float = 0.0
    _last_mono: float = 0.0
    jumps: int = 0
    jumped_s: float = 0.0
    """Sum of the jumps seen (s, + = forward): a reader diffs it to learn by how much."""

    def synced(self, now_wall: float | None = None, now_mono: float | None = None) -> bool:
        wall = time.time() if now_wall is None else now_wall
        mono = time.monotonic() if now_mono is None else now_mono
        self._detect_jump(wall, mono)
        if mono - self._checked_mono >= self.recheck_every:
            self._checked_mono = mono
            self._synced = kernel_says_synced() or Path(self.flag_path).exists()
        return self._synced and wall >= EARLIEST_PLAUSIBLE

    def trusted(self) -> bool:
        """The last `synced()` verdict, the wall clock still plausible: for another thread (the
        remote commands' expiry), which must neither re-ask the kernel nor see jumps (the main
        loop's work, which keeps the verdict at most `recheck_every` old)."""
        return self._synced and time.time() >= EARLIEST_PLAUSIBLE

    def _detect_jump(self, wall: float, mono: float) -> None:
        if self._last_mono:
            drift = (wall - self._last_wall) - (mono - self._last_mono)
            if abs(drift) > JUMP_THRESHOLD:
                self.jumps += 1
                self.jumped_s += drift
                self._checked_mono = -1e18  # re-ask the kernel right away
                log.warning("wall clock jumped by %+.0f s (NTP sync or manual set)", drift)
        self._last_wall, self._last_mono = wall, mono
