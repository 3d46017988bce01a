"""ok / stale / offline from the age of the last good read; capped reopen backoff."""

from __future__ import annotations

from edged.clock import ClockWatch
from edged.liveness import Backoff, state
from edged.readings import Liveness


def test_state_follows_the_age_of_the_last_good_read():
    assert state(None, 100.0, 10, 60) is Liveness.OFFLINE
    assert state(95.0, 100.0, 10, 60) is Liveness.OK
    assert state(90.0, 100.0, 10, 60) is Liveness.STALE  # exactly stale_after
    assert state(41.0, 100.0, 10, 60) is Liveness.STALE
    assert state(40.0, 100.0, 10, 60) is Liveness.OFFLINE


def test_backoff_doubles_up_to_its_cap_and_resets():
    b = Backoff(first=0.5, cap=5.0)
    assert [b.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    b.reset()
    assert b.next() == 0.5


def test_clock_watch_counts_a_jump_and_distrusts_1970():
    watch = ClockWatch(recheck_every=1e9)
    watch.synced(now_wall=1_800_000_000.0, now_mono=10.0)
    watch.synced(now_wall=1_800_000_001.0, now_mono=11.0)
    assert watch.jumps == 0
    watch.synced(now_wall=1_800_086_400.0, now_mono=12.0)  # NTP: +1 day in 1 s
    assert watch.jumps == 1
    # a Pi that booted without RTC and network thinks it is 1970: never "synced"
    assert watch.synced(now_wall=86_400.0, now_mono=13.0) is False


def test_clock_trusted_is_the_last_verdict_and_leaves_jumps_to_synced(tmp_path):
    """`trusted()` is what another thread (remote commands) asks: the main loop's last verdict."""
    flag = tmp_path / "synchronized"
    flag.touch()
    watch = ClockWatch(flag_path=str(flag))
    assert watch.trusted() is False  # no verdict yet: not trusted
    assert watch.synced() is True and watch.trusted() is True
    flag.unlink()
    assert watch.trusted() is True  # re-asking is `synced()`'s work, every `recheck_every`
    assert watch.jumps == 0
