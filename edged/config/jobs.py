"""`[[jobs]]`: each power-aware job's frozen settings and their checks (docs/configuration.md;
the rule that decides when a job runs: docs/power-policy.md).

Every problem with its key path, unknown keys are errors. The pure `JobSpec` checks its own
consistency; its ValueError becomes a problem at the job's table. Voltages are placed at the
nominal voltage of the bank `[power]` reads (`edged.config.power.at_nominal`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edged.config.checks import (
    Unique,
    expect,
    not_negative,
    one_of,
    percent,
    positive,
    strings,
    tables,
)
from edged.config.power import at_nominal
from maintenance.energy.policy import JobKind, JobSpec
from maintenance.energy.problems import Inconsistent
from maintenance.energy.pv_profile import minutes

JOB_NAME = re.compile(r"^[a-z0-9_-]{1,64}$")
ON_LOW_BATTERY = ("stop", "suspend")
JOB_NUMBERS = {
    "max_duration": "max_duration_s",
    "power_w": "power_w",
    "energy_wh": "energy_wh",
    "deadline": "deadline_s",
    "min_interval": "min_interval_s",
    "min_soc": "min_soc",
    "urgent_min_soc": "urgent_min_soc",
    "min_voltage": "min_voltage",
    "urgent_min_voltage": "urgent_min_voltage",
    "urgent_before": "urgent_before_s",
}
"""TOML key: JobSpec field (voltages become {nominal: volts}; the rest keep JobSpec's defaults)."""
JOB_KEYS = (
    "name",
    "kind",
    "command",
    *JOB_NUMBERS,
    "windows",
    "on_low_battery",
    "stop_grace",
    "workdir",
    "env",
)


@dataclass(frozen=True, slots=True)
class JobConfig:
    """One `[[jobs]]` entry (docs/power-policy.md): a backup, sync or report run when the energy
    allows. `policy` is the pure rule's `JobSpec` built from the same table; the rest is how the
    job is run."""

    policy: JobSpec
    command: tuple[str, ...] = ()
    """argv, no shell; empty only for `kind = "report"` (the built-in monthly report)."""
    on_low_battery: str = "stop"
    """`stop` (SIGTERM, then SIGKILL after stop_grace) or `suspend` (SIGSTOP, SIGCONT when the
    battery allows again) when SOC falls to the floor while it runs."""
    stop_grace: float = 30.0
    workdir: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.policy.name)


def jobs(v: Any, raw: Mapping[str, Any], nominal: int | None) -> tuple[JobConfig, ...]:
    """Every `[[jobs]]` table as a JobConfig; `nominal` places their voltages."""
    out: list[JobConfig] = []
    names = Unique("job name")
    for path, item in tables(v, raw.get("jobs", []), "jobs"):
        job = _job(v, item, path, nominal)
        name = item.get("name")
        if isinstance(name, str) and names.twice(v, f"{path}.name", name):
            continue
        if job is not None:
            out.append(job)
    return tuple(out)


def _job(v: Any, item: Mapping[str, Any], path: str, nominal: int | None) -> JobConfig | None:
    start = len(v.problems)
    v.unknown(item, path + ".", JOB_KEYS)
    name = v.value(item, "name", str, path, required=True, check=_name)
    kind = v.value(item, "kind", str, path, required=True, check=one_of(tuple(JobKind)))
    command = strings(v, item, "command", path)
    if kind == JobKind.REPORT and command:
        v.add(f"{path}.command", 'expected none for kind = "report" (the built-in report)')
    elif kind is not None and kind != JobKind.REPORT and ("command" not in item or command == ()):
        v.add(f"{path}.command", f"required for kind {kind!r}: a non-empty array (argv, no shell)")
    spec = _spec_fields(v, item, path, nominal)
    on_low = v.value(item, "on_low_battery", str, path, "stop", check=one_of(ON_LOW_BATTERY))
    grace = v.value(item, "stop_grace", float, path, 30.0, check=positive)
    workdir = v.value(item, "workdir", str, path)
    env = item.get("env", {})
    if not _is_env(env):
        v.add(f"{path}.env", f'expected a table of NAME = "string", got {env!r}')
    if len(v.problems) > start:
        return None
    try:
        policy = JobSpec(name=name, kind=JobKind(kind), **spec)
    except Inconsistent as exc:
        for problem in exc.problems:  # one by one: each is translated apart
            v.add(path, f"{exc.subject}: {problem}")
        return None
    except ValueError as exc:
        v.add(path, str(exc))
        return None
    return JobConfig(policy, command or (), on_low, float(grace), workdir, dict(env))


def _spec_fields(v: Any, item: Mapping[str, Any], path: str, nominal: int | None) -> dict[str, Any]:
    """The JobSpec keyword arguments written in the table."""
    spec: dict[str, Any] = {}
    for key, attr in JOB_NUMBERS.items():
        check = (
            percent
            if key.endswith("soc")
            else not_negative
            if key == "urgent_before"
            else (positive)
        )
        val = v.value(item, key, float, path, required=key == "max_duration", check=check)
        if val is not None:
            spec[attr] = at_nominal(val, nominal) if key.endswith("voltage") else float(val)
    if ("power_w" in item) == ("energy_wh" in item):
        v.add(f"{path}.power_w", "expected exactly one of power_w and energy_wh")
    interval, deadline = spec.get("min_interval_s"), spec.get("deadline_s", 86400.0)
    if interval is not None and interval > deadline:
        v.add(f"{path}.min_interval", f"expected at most deadline ({deadline:g}), got {interval:g}")
    windows = _windows(v, item, path)
    if windows is not None:
        spec["windows"] = windows
    return spec


def _windows(v: Any, item: Mapping[str, Any], path: str) -> tuple[tuple[str, str], ...] | None:
    if "windows" not in item:
        return None
    val = item["windows"]
    if not isinstance(val, list) or not val:
        v.add(f"{path}.windows", f'expected a non-empty array of ["HH:MM", "HH:MM"], got {val!r}')
        return None
    good = True
    for i, w in enumerate(val):
        ok = isinstance(w, list) and len(w) == 2 and all(isinstance(t, str) for t in w)
        ends = [minutes(t) for t in w] if ok else [None]
        if None in ends or ends[0] == ends[1]:
            what = 'expected ["HH:MM", "HH:MM"], two different times 00:00-24:00'
            v.add(f"{path}.windows[{i}]", f"{what}, got {w!r}")
            good = False
    return tuple((w[0], w[1]) for w in val) if good else None


def _is_env(val: Any) -> bool:
    return isinstance(val, Mapping) and all(
        isinstance(k, str) and k and "=" not in k and isinstance(x, str) for k, x in val.items()
    )


_name = expect(JOB_NAME.match, "expected only [a-z0-9_-] characters")
