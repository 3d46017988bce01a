"""The README's "Installing on a site", for real: scripts/try-install on a fresh debootstrapped
Debian bookworm, offline, from a bundle built here; every check it prints must pass.

It needs root, debootstrap, unshare and a mirror the first time (the fresh root is then cached
under ~/.cache/edged/try-install): about 2 minutes with the cache, 5 without. Marked `bookworm`:
`./scripts/test -m "not bookworm"` leaves it out of a quick local run; .ci/run runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.bookworm,
    pytest.mark.skipif(
        os.geteuid() != 0 or not all(shutil.which(t) for t in ("debootstrap", "unshare")),
        reason="needs root, debootstrap and unshare (./scripts/test installs debootstrap)",
    ),
]


@pytest.mark.timeout(1500)
def test_the_readme_install_works_on_a_fresh_bookworm_offline():
    out = subprocess.run(
        [str(ROOT / "scripts" / "try-install"), "--seconds", "10"],
        capture_output=True,
        text=True,
        timeout=1400,
    )
    report = out.stdout + out.stderr
    failed = [line for line in out.stdout.splitlines() if line.startswith("FAIL")]
    assert out.returncode == 0 and not failed, report[-6000:]
    assert "checks, PASSED" in out.stdout.splitlines()[-1], report[-2000:]
