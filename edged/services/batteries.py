"""The `[[batteries]]` banks as virtual devices: one sample stream and one device state per bank.

A bank with a monitor (BMV, SmartShunt, BMS, GX battery) mirrors the monitor's battery metrics
with `soc_source = "measured"`. A bank with only a charge controller runs the SOC estimator
(`maintenance.energy.soc_estimator`) on the controller's samples, less the `load` device's load
current, and emits the estimate with `soc_source = "estimated"`. Either way the daemon stores and
publishes the bank's samples like a device's, so records, outbox and `P/telemetry/{bank}` carry
them; the bank's ok/stale/offline is the worst of its source devices' (stale data must not look
live).

The estimator's SOC and uncertainty are saved as `kv` rows (`battery.{bank}`) at most every
SAVE_EVERY s of sample time and at stop, and restored at start, so a restart does not reset the
estimate; the gap since the saved time is handled by the estimator like any data gap.

No I/O and no clock of its own: the daemon feeds samples and states and writes what comes out.
Thread-safe: runner threads call it concurrently. docs/battery.md, "Configuring a bank".
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edged.config.batteries import BatteryConfig
from edged.config.devices import DeviceConfig
from edged.readings import DeviceState, Liveness, Sample
from maintenance.energy.soc_estimator import SocEstimator, net_battery_current
from telemetry.rows import KvRow

log = logging.getLogger(__name__)

KV_KEY = "battery.{bank}"
SAVE_EVERY = 60.0  # s of sample time between saved estimates (a row rides the next commit)
MIRRORED = (
    "battery_soc",
    "battery_voltage",
    "battery_current",
    "battery_temperature",
    "cell_voltage_min",
    "cell_voltage_max",
)
"""What a measured bank repeats of its monitor: what the health figures use, no more (every
mirrored value costs uplink bytes a second time)."""
_WORST = ("offline", "stale", "ok")


@dataclass(frozen=True, slots=True)
class BankState:
    """A bank's state after one of its source devices reported, like a runner's."""

    bank: str
    state: DeviceState
    changed: bool
    """True when the bank's liveness changed (the worst of its sources')."""


@dataclass(slots=True)
class _Bank:
    config: BatteryConfig
    estimator: SocEstimator | None
    sources: tuple[str, ...]
    last_ts: float | None = None  # time of the last controller sample counted
    saved_ts: float | None = None
    load: tuple[float, float] | None = None  # (ts, load_current) of a separate load device
    states: dict[str, str] = field(default_factory=dict)
    reported: str = "offline"
    last_seen: float | None = None
    samples: int = 0


class BatteryModel:
    def __init__(self, banks: Sequence[BatteryConfig], devices: Sequence[DeviceConfig]) -> None:
        self._lock = threading.Lock()
        self._stale_after = {d.id: d.stale_after for d in devices}
        self._banks = [_new_bank(b) for b in banks]
        self.measured = frozenset(b.config.id for b in self._banks if b.estimator is None)
        """Banks that mirror a monitor: its alarms already cover them."""

    def restore(self, saved: Mapping[str, str]) -> None:
        """Resume each estimated bank from its saved `kv` row, if any (call before any sample)."""
        with self._lock:
            for bank in self._banks:
                text = saved.get(KV_KEY.format(bank=bank.config.id))
                if bank.estimator is None or text is None:
                    continue
                try:
                    state = json.loads(text)
                    soc, u, ts = float(state["soc"]), float(state["uncertainty"]), state["ts"]
                    bank.estimator = _estimator(bank.config, soc, u)
                except (ValueError, TypeError, KeyError) as exc:
                    log.warning(
                        "bank %s: saved estimate %r unusable (%s)", bank.config.id, text, exc
                    )
                    continue
                bank.last_ts = bank.saved_ts = float(ts)
                log.info("bank %s: estimate resumed at %.1f ± %.1f %%", bank.config.id, soc, u)

    def observe(self, sample: Sample) -> list[Sample]:
        """The bank samples this device sample makes (none for most devices)."""
        out = []
        with self._lock:
            for bank in self._banks:
                if sample.device not in bank.sources:
                    continue
                make = self._mirror if bank.estimator is None else self._estimate
                made = make(bank, sample)
                if made is not None:
                    bank.last_seen, bank.samples = made.ts, bank.samples + 1
                    out.append(made)
        return out

    def observe_state(self, device: str, state: DeviceState) -> list[BankState]:
        """The state of each bank built on `device`, like a runner's state."""
        out = []
        with self._lock:
            for bank in self._banks:
                if device not in bank.sources:
                    continue
                bank.states[device] = state.liveness.value
                worst = min((bank.states.get(d, "offline") for d in bank.sources), key=_rank)
                changed, bank.reported = worst != bank.reported, worst
                out.append(BankState(bank.config.id, self._state(bank), changed))
        return out

    def saves(self, force: bool = False) -> list[KvRow]:
        """`kv` rows (JSON values) of the estimates due to be saved; all of them when `force`."""
        rows = []
        with self._lock:
            for bank in self._banks:
                if bank.estimator is None or bank.last_ts is None:
                    continue
                due = bank.saved_ts is None or abs(bank.last_ts - bank.saved_ts) >= SAVE_EVERY
                if not (force or due):
                    continue
                est = bank.estimator.estimate
                value = {
                    "soc": round(est.soc, 3),
                    "uncertainty": round(est.uncertainty, 3),
                    "ts": bank.last_ts,
                }
                rows.append(KvRow(KV_KEY.format(bank=bank.config.id), json.dumps(value)))
                bank.saved_ts = bank.last_ts
        return rows

    def _mirror(self, bank: _Bank, sample: Sample) -> Sample | None:
        metrics = {k: sample.metrics[k] for k in MIRRORED if k in sample.metrics}
        if not metrics:
            return None
        return Sample(bank.config.id, sample.ts, sample.clock_synced, metrics)

    def _estimate(self, bank: _Bank, sample: Sample) -> Sample | None:
        cfg, m = bank.config, sample.metrics
        drawn = _number(m, "load_current")
        if sample.device == cfg.load and cfg.load != cfg.controller and drawn is not None:
            bank.load = (sample.ts, drawn)
        charge_a = _number(m, "battery_current")
        if sample.device != cfg.controller or charge_a is None:
            return None  # a partial reading (async HEX frame): wait for the next full one
        load_a = self._load_a(bank, sample)
        current = net_battery_current(charge_a, load_a)
        if cfg.load is not None and load_a is None:
            current = None  # a load we cannot see now: count nothing rather than count wrong
        voltage, temperature = _number(m, "battery_voltage"), _number(m, "battery_temperature")
        state = m.get("charger_state")
        assert bank.estimator is not None
        if bank.last_ts is None:
            est = bank.estimator.estimate
        else:
            dt = sample.ts - bank.last_ts
            est = bank.estimator.update(dt, current, voltage, _text(state), temperature)
        bank.last_ts = sample.ts
        metrics: dict[str, float] = est.metrics()
        for name, value in (
            ("battery_voltage", voltage),
            ("battery_current", current),
            ("battery_temperature", temperature),
        ):
            if value is not None:
                metrics[name] = round(value, 4)
        return Sample(cfg.id, sample.ts, sample.clock_synced, metrics)

    def _load_a(self, bank: _Bank, sample: Sample) -> float | None:
        """The load current to subtract: from this sample, or the load device's if fresh."""
        cfg = bank.config
        if cfg.load is None:
            return None
        if cfg.load == cfg.controller:
            return _number(sample.metrics, "load_current")
        if bank.load is None:
            return None
        ts, amps = bank.load
        fresh = abs(sample.ts - ts) <= self._stale_after.get(cfg.load, 10.0)
        return amps if fresh else None

    def _state(self, bank: _Bank) -> DeviceState:
        cfg = bank.config
        info: dict[str, str | float] = {
            "soc_source": "measured" if bank.estimator is None else "estimated",
            "chemistry": cfg.chemistry,
            "nominal_voltage": cfg.nominal_voltage,
            "capacity_ah": cfg.capacity_ah,
        }
        info |= {k: getattr(cfg, k) for k in ("monitor", "controller", "load") if getattr(cfg, k)}
        return DeviceState(
            Liveness(bank.reported), bank.last_seen, info, counters={"samples": bank.samples}
        )


def _new_bank(cfg: BatteryConfig) -> _Bank:
    if cfg.monitor is not None:
        return _Bank(cfg, None, (cfg.monitor,))
    assert cfg.controller is not None  # validated: one of monitor and controller
    sources = tuple(dict.fromkeys(d for d in (cfg.controller, cfg.load) if d is not None))
    return _Bank(cfg, _estimator(cfg, cfg.initial_soc, 20.0), sources)


def _estimator(cfg: BatteryConfig, soc: float | None, uncertainty: float) -> SocEstimator:
    return SocEstimator(
        cfg.chemistry,
        cfg.nominal_voltage,
        cfg.capacity_ah,
        charge_efficiency=cfg.charge_efficiency,
        peukert=cfg.peukert,
        initial_soc=soc,
        initial_uncertainty=uncertainty,
    )


def _rank(state: str) -> int:
    return _WORST.index(state) if state in _WORST else 0


def _number(metrics: Mapping[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
