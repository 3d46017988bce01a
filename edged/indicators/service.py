"""The LEDs in the daemon: refreshed from its main loop, "stopped" when that loop stops.

`refresh()` is called by edged.daemon's main loop every second: it gathers the facts (active
alarms, load-shedding level, running jobs, acknowledgements), picks the pattern
(edged.indicators.patterns) and shows it. A frozen "all well" must never outlive the daemon:
- clean stop (SIGTERM, a thread that died): `stop()` shows "stopped" (all dark) and closes the
  outputs; systemd's `ExecStopPost=edged leds show stopped` does it again after any exit, a
  crash or a watchdog kill included;
- main loop hung, process alive: the guard thread here sees no refresh for `hang_after`
  seconds and shows "stopped"; the next refresh shows the verdict again;
- whole process frozen (the guard cannot run either): systemd's watchdog kills it within
  `WatchdogSec` (the same main loop feeds it), then ExecStopPost. docs/leds.md says why the
  kernel's `heartbeat` trigger was not used: it proves the kernel runs, not edged.

The button's presses are judged by edged.indicators.press: a short one acknowledges every
active alarm through the Writer (the same `acked_at`/`acked_by` columns `edged alarms ack`
writes), committed at once; a long one replays the verdict (lamp test, then each condition that
holds, worst first). Gpiozero calls the button from its own thread; the work runs on a short
thread of its own so that neither gpiozero's thread nor the main loop waits for a commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edged.config.leds import LedsConfig
from edged.indicators import texts
from edged.indicators.board import Board, outputs
from edged.indicators.patterns import (
    LAMP_TEST,
    PATTERNS,
    ActiveAlarm,
    Condition,
    Facts,
    Pattern,
    conditions,
    pattern,
    verdict,
)
from edged.indicators.press import Press, PressJudge
from edged.indicators.sysfs import OutputError
from maintenance.energy.shedding import Level
from telemetry.database import DatabaseError
from telemetry.queries import acknowledged_alarms
from telemetry.rows import AlarmsAcked
from telemetry.writer import Writer

log = logging.getLogger(__name__)

GUARD_EVERY = 1.0
ACKS_EVERY = 30.0
"""Seconds between reads of the acknowledgements `edged alarms ack` wrote (the buzzer stops)."""
REPLAY_STEPS_S = (1.5, 0.5, 3.0, 0.5)
"""Lamp test, dark, each condition, dark between conditions."""
DARK = PATTERNS[Condition.STOPPED]
FactsSource = Callable[[], Facts]


class IndicatorService:
    def __init__(
        self,
        config: LedsConfig,
        board: Board,
        facts: FactsSource,
        writer: Writer | None = None,
        button: Callable[[Callable[[bool, float], None]], object] | None = None,
    ) -> None:
        """`facts` is called from the main loop; `button(on_edge)` builds the button's input
        (None: no button), `writer` takes the acknowledgements."""
        self.config, self.board, self._facts, self._writer = config, board, facts, writer
        self._make_button = button
        self._button: object | None = None
        self._judge = PressJudge(config.long_press)
        self._lock = threading.Lock()  # the board: main loop, guard, replay, stop
        self._stopped = threading.Event()
        self._guard: threading.Thread | None = None
        self._refreshed = time.monotonic()
        self._hung = False
        self._replaying = False
        self._acked: set[str] = set()
        self._acks_read = 0.0
        self.condition: Condition | None = None
        self.counts = {"hangs": 0, "acks": 0, "ack_failures": 0, "replays": 0, "button_errors": 0}

    def start(self) -> None:
        self._read_acks()
        self.refresh()
        if self._make_button is not None:
            try:
                self._button = self._make_button(self._edge)
            except OutputError as exc:
                self.counts["button_errors"] += 1
                log.warning("status button: %s (counted; the LEDs work without it)", exc)
        self._guard = threading.Thread(target=self._watch, name="leds-guard", daemon=True)
        self._guard.start()

    # --- main loop ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """From the daemon's main loop, every second: show the verdict, prove the loop lives."""
        now = time.monotonic()
        if now - self._acks_read >= ACKS_EVERY:
            self._read_acks()
        facts = self._facts()
        with self._lock:
            self._acked &= {a.alarm_id for a in facts.alarms}  # raised again: beeps again
            facts = Facts(facts.alarms, facts.shedding, facts.jobs_running, frozenset(self._acked))
            self._refreshed = now
            if self._hung:
                self._hung = False
                log.info("main loop refreshes the status LEDs again")
            self.condition = verdict(facts)
            if not self._replaying and not self._stopped.is_set():
                self.board.show(pattern(facts))

    def stop(self) -> None:
        """The daemon stops: the LEDs go dark ("stopped") and the outputs are released."""
        self._stopped.set()
        if self._guard is not None:
            self._guard.join(timeout=5)
        with self._lock:
            self.board.show(PATTERNS[Condition.STOPPED])
            self.condition = Condition.STOPPED
            self.board.close()
        close = getattr(self._button, "close", None)
        if close is not None:
            close()

    def view(self) -> dict[str, object]:
        """For the live view (`edged status --json`)."""
        condition = self.condition
        return {
            "condition": condition.name.lower() if condition is not None else None,
            "meaning": texts.meaning(condition) if condition is not None else None,
            "meaning_en": texts.meaning(condition, "en") if condition is not None else None,
            **self.counts,
            **self.board.view(),
        }

    # --- the guard ----------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopped.wait(GUARD_EVERY):
            with self._lock:
                idle = time.monotonic() - self._refreshed
                if idle >= self.config.hang_after and not self._hung:
                    self._hung = True
                    self.counts["hangs"] += 1
                    log.error("main loop silent for %.0f s: status LEDs show 'stopped'", idle)
                    self.board.show(PATTERNS[Condition.STOPPED])
                    self.condition = Condition.STOPPED
                elif self.board.software_blink and not self._replaying and not self._hung:
                    self.board.show(self.board.shown or DARK, toggle=True)  # LEDs with no timer

    # --- the button ---------------------------------------------------------------------------

    def _edge(self, pressed: bool, t: float) -> None:
        press = self._judge.edge(pressed, t)
        if press is Press.SHORT:
            threading.Thread(target=self.acknowledge, name="leds-ack", daemon=True).start()
        elif press is Press.LONG:
            threading.Thread(target=self.replay, name="leds-replay", daemon=True).start()

    def acknowledge(self) -> None:
        """Acknowledge every active alarm, as `edged alarms ack` would, committed now."""
        if self._writer is None:
            return
        facts = self._facts()
        try:
            self._writer.put_row(AlarmsAcked(time.time(), texts.ACKED_BY))
            committed = self._writer.flush()
        except (RuntimeError, TimeoutError) as exc:  # writer stopped or stuck
            committed, reason = False, exc
        else:
            reason = "the commit failed (storage alarm)"
        if not committed:
            self.counts["ack_failures"] += 1
            log.warning("button: acknowledgement not stored yet: %s", reason)
        self.counts["acks"] += 1
        with self._lock:
            self._acked.update(a.alarm_id for a in facts.alarms)
        log.info("button: %d active alarm(s) acknowledged on site", len(facts.alarms))

    def replay(self) -> None:
        """Lamp test, then each condition that holds, worst first; then the verdict again."""
        with self._lock:
            if self._replaying or self._stopped.is_set():
                return
            self._replaying = True
        self.counts["replays"] += 1
        try:
            lamp, dark, each, between = REPLAY_STEPS_S
            steps: list[tuple[Pattern, float]] = [(LAMP_TEST, lamp), (DARK, dark)]
            for condition in conditions(self._facts()):
                steps += [(PATTERNS[condition], each), (DARK, between)]
            for shown, seconds in steps:
                with self._lock:
                    if self._stopped.is_set():
                        return
                    self.board.show(shown)
                if self._stopped.wait(seconds):
                    return
        finally:
            with self._lock:
                self._replaying = False

    def _read_acks(self) -> None:
        self._acks_read = time.monotonic()
        if self._writer is None:
            return
        try:
            found = self._writer.call(acknowledged_alarms)
        except (RuntimeError, TimeoutError, DatabaseError) as exc:
            log.debug("cannot read the acknowledged alarms: %s", exc)
            return
        with self._lock:
            self._acked |= found


def daemon_facts(
    alarms: Callable[[], list[dict]], shedding: Callable[[], Level], jobs: Callable[[], tuple]
) -> FactsSource:
    """The facts from the daemon's parts (edged.daemon wires the three callables)."""

    def facts() -> Facts:
        active = tuple(
            ActiveAlarm(str(a["alarm_id"]), str(a.get("rule", "")), str(a.get("severity", "")))
            for a in alarms()
        )
        return Facts(active, shedding(), jobs())

    return facts


def build(config: LedsConfig, writer: Writer | None, facts: FactsSource) -> IndicatorService:
    """The service for `[leds]`: its board, and the button when one is configured."""
    button = None
    if config.button is not None:
        pin = config.button

        def button(on_edge: Callable[[bool, float], None]) -> object:
            from edged.indicators.gpio import GpioButton  # gpiozero only where GPIO is used

            found = GpioButton(pin, on_edge)
            found.open()
            return found

    return IndicatorService(config, Board(outputs(config)), facts, writer, button)
