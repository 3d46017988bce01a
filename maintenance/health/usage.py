"""How portable equipment (smart glasses) is used, derived from timestamped observations.

Pure: no clock, no I/O. The collector feeds one `Observation` per round (seen or not, charging if
known, battery if reported); the tracker derives what a technician plans visits with.

Rules (docs/health.md explains them to users):
- an interval between two observations is attributed to the state of the earlier one, and counts
  at most `max_gap` seconds, so a daemon stopped for a week adds at most `max_gap`, not a week;
  a clock stepping backwards adds nothing;
- *use* is time seen and not known to be charging (charging unknown counts as use: glasses seen
  only on the LAN are on someone's head, not on the dock);
- a *charge session* starts at each observation charging after one that was not (not seen,
  not charging, or no earlier observation: glasses already on charge at start-up count once).

State round-trips through `to_dict`/`from_dict` so the daemon can keep totals across restarts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from maintenance.health.reading import HealthValue

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Observation:
    ts: float
    seen: bool
    charging: bool | None = None
    battery: float | None = None

    @property
    def on_charge(self) -> bool:
        return self.seen and self.charging is True

    @property
    def in_use(self) -> bool:
        return self.seen and self.charging is not True


@dataclass(slots=True)
class UsageTracker:
    max_gap: float = 900.0
    use_s: float = 0.0
    charge_sessions: int = 0
    last_seen: float | None = None
    last_battery: float | None = None
    previous: Observation | None = None

    def observe(self, obs: Observation) -> None:
        prev = self.previous
        if prev is not None and prev.in_use:
            self.use_s += self._span(prev.ts, obs.ts)
        if obs.on_charge and not (prev is not None and prev.on_charge):
            self.charge_sessions += 1
        if obs.seen:
            self.last_seen = obs.ts
        if obs.battery is not None:
            self.last_battery = obs.battery
        self.previous = obs

    def figures(self, now: float) -> dict[str, HealthValue]:
        """Totals as of `now`, including the open interval since the last observation."""
        use_s = self.use_s
        if self.previous is not None and self.previous.in_use:
            use_s += self._span(self.previous.ts, now)
        unseen = None if self.last_seen is None else max(0.0, now - self.last_seen) / DAY
        return {
            "last_seen": self.last_seen,
            "days_unseen": None if unseen is None else round(unseen, 4),
            "charge_sessions": self.charge_sessions,
            "hours_of_use": round(use_s / 3600.0, 4),
            "battery_last": self.last_battery,
        }

    def _span(self, start: float, end: float) -> float:
        return min(max(end - start, 0.0), self.max_gap)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> UsageTracker:
        prev = data.get("previous")
        fields = {k: v for k, v in data.items() if k != "previous"}
        return cls(**fields, previous=Observation(**prev) if prev else None)
