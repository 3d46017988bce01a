"""Freed heap goes back to the system after one-off work, and a C library without the glibc
calls leaves the daemon running as before."""

from __future__ import annotations

import subprocess
import sys

from edged import memory

FRAGMENTED_HEAP = """
import sys
from edged import memory

def rss_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

blocks = [bytearray(2000) for _ in range(50_000)]  # ~100 MB from malloc (> pymalloc's 512 B)
kept = blocks[::64]  # a few survivors in every page span: the heap top cannot shrink
del blocks
before = rss_kb()
trimmed = memory.trim() if sys.argv[1] == "trim" else False
print(before, rss_kb(), trimmed)
"""


def _run(mode: str) -> tuple[int, int, str]:
    out = subprocess.run(
        [sys.executable, "-c", FRAGMENTED_HEAP, mode], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    before, after, trimmed = out.stdout.split()
    return int(before), int(after), trimmed


def test_trim_gives_freed_heap_back_to_the_system():
    before, after, trimmed = _run("trim")
    assert trimmed == "True"
    assert before - after > 30_000, (before, after)  # kB: most of ~100 MB freed
    before, after, _ = _run("none")  # without it glibc keeps the freed pages
    assert before - after < 10_000, (before, after)


def test_limit_arenas_is_taken_by_glibc():
    assert memory.limit_arenas() is True


def test_without_glibc_calls_nothing_fails(monkeypatch):
    monkeypatch.setattr(memory, "_LIBC", None)
    assert memory.limit_arenas() is False
    assert memory.trim() is False
