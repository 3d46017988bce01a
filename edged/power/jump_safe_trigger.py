"""An APScheduler 3.x interval trigger that survives the wall-clock jumps of a Pi without RTC.

APScheduler 3 plans in wall-clock time. `IntervalTrigger` answers "next = previous + interval",
so after NTP moves a 1970 boot clock to 2026 the scheduler enumerates every missed tick one by
one (29 million for a 60 s tick: minutes of CPU and gigabytes of datetimes on a Pi) before
coalescing them, and after a backward jump it sleeps until the old next time, hours or days
away. This trigger answers from `now` instead whenever `previous` is more than one interval away
from it: at most one catch-up fire after a forward jump, the next fire one interval from now
after a backward one. `edged.power.scheduler` also wakes the scheduler when `edged.clock` sees a
jump, because a sleeping scheduler does not ask its trigger anything until it wakes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger


class JumpSafeInterval(BaseTrigger):
    """Fire every `seconds`, re-anchored on `now` when the clock moved by more than that."""

    __slots__ = ("interval",)

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"interval must be positive, got {seconds!r}")
        self.interval = timedelta(seconds=seconds)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return now
        following = previous_fire_time + self.interval
        if following <= now - self.interval:  # forward jump (or a very late tick): catch up once
            return now
        if following > now + self.interval:  # backward jump: do not wait for the old time
            return now + self.interval
        return following

    def __str__(self) -> str:
        return f"jump-safe interval[{self.interval}]"

    def __repr__(self) -> str:
        return f"<JumpSafeInterval (interval={self.interval!r})>"
