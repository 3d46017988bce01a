"""The composition root: builds drivers, runners, the writer and the publisher, and wires them.

Nothing else creates these objects, so the data flow (drivers -> samples -> writer -> records ->
publisher) is readable in one place. Stopping is orderly: runners first (no new samples), then the
writer's final commit, then the publisher's `offline`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any

from drivers.registry import registry
from edged import live, memory
from edged.clock import ClockWatch
from edged.config.settings import Config
from edged.power.service import PowerService
from edged.readings import DeviceState, Record, Sample
from edged.runner import DeviceRunner
from edged.services.alarms import AlarmService
from edged.services.batteries import BatteryModel
from edged.services.health_round import HealthRound
from edged.services.remote import RemoteService
from edged.services.remote_commands import Site
from edged.services.rollups import RollupTask
from edged.stop_signals import StopSignals
from edged.systemd_notify import Notifier, Vitals, Watchdog
from maintenance.energy.policy import JobKind
from maintenance.energy.shedding import Level
from telemetry import exclusive, queries, store
from telemetry.cadence import CommitCadence
from telemetry.database import DatabaseError
from telemetry.mqtt import Publisher
from telemetry.writer import Writer

if TYPE_CHECKING:  # imported when configured (bench/bench_imports.py: ~1 MB a site without them)
    from edged.indicators.service import IndicatorService
    from edged.services.discovery import Discovery

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0
FIRST_PRUNE = 300.0
LIVE_EVERY = 5.0
LOOP_EVERY = 1.0
"""The main loop's period: `edged backup --now` requests are taken within a second, and the
live view is written every LIVE_EVERY s, or every second while a job runs (its progress)."""
EXIT_THREAD_DIED = 70
"""Exit status after a thread died (EX_SOFTWARE): not 0, so systemd's Restart= applies."""
STATUS_WAIT = 5.0
"""How long a remote `status` waits for the main loop to write this second's live view (the
loop takes the request within `LOOP_EVERY`); past it, the last one written answers."""
STOP_GRACE = 90.0
"""After a thread died, the orderly stop must end within this (a writer's final commit, the
publisher's offline); past it the process exits at once, with `EXIT_THREAD_DIED`."""


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.stop_event = threading.Event()
        self.died: str | None = None
        """The name of the first thread that died of an exception, if one did."""
        self._backstop: threading.Timer | None = None
        self.clock = ClockWatch(flag_path=config.power.timesync_flag)
        self.publisher: Publisher | None = None
        storage = config.storage
        self.cadence = CommitCadence(
            storage.commit_interval, storage.low_battery_commit_interval, storage.low_battery_soc
        )
        self.live_path = live.writable_path(config)
        self.live_lock = live.claim_for(config, self.live_path)
        self.live_failed = False
        self._live_requests = live.ViewRequests()
        """Live views written; a remote `status` waits for the next one (`_status`)."""
        self.watchdog = Watchdog(Notifier())
        db = storage.path  # held before the Writer opens it: other processes use the door
        try:
            self.holding = exclusive.Holding(db, partial(store.open_db, db, migrate_schema=False))
        except BaseException:  # DatabaseBusy: another daemon's door answers
            self.live_lock.release()
            raise
        try:
            self.writer = Writer(
                db,
                publish_interval=config.telemetry.publish_interval,
                commit_interval=config.storage.commit_interval,
                on_records=self._records_committed,
                on_closed=self._records_closed,
                keep_raw_samples=storage.keep_raw_samples,
                release_memory=memory.trim,
            )
        except BaseException:  # DatabaseBusy: this daemon will not run, its live folder is free
            self.live_lock.release()
            self.holding.release()
            raise
        self.health: HealthRound | None = None
        if config.health.enabled:
            self.health = HealthRound(config, self.writer, self.stop_event)
        self.remote: RemoteService | None = None
        if config.mqtt.enabled and config.remote.enabled:
            self.remote = RemoteService(config, clock_trusted=self.clock.trusted)
        if config.mqtt.enabled:
            self.publisher = Publisher(
                config,
                config.storage.path,
                ack=self.writer.ack,
                on_link=self.health.on_link if self.health else None,
                on_rtt=self.health.on_rtt if self.health else None,
                on_command=self.remote.receive if self.remote else None,
            )
        self.discovery: Discovery | None = None
        if self.publisher is not None and config.homeassistant.discovery:
            from edged.services.discovery import Discovery

            self.discovery = Discovery(config, self.publisher)
        self.alarms = AlarmService(config, self.writer, self.publisher)
        self.battery = BatteryModel(config.batteries, config.devices)
        self.rollups = RollupTask(config)
        self.power = PowerService(
            config, self.writer, self.publisher, self.alarms, self.clock, self.live_path
        )
        self.leds: IndicatorService | None = None
        if config.leds is not None:
            from edged.indicators import service as indicators

            facts = indicators.daemon_facts(self.alarms.active, self._shedding, self._jobs_running)
            self.leds = indicators.build(config.leds, self.writer, facts)
        if self.health is not None:
            self.health.publisher = self.publisher
            self.health.on_reading = self.alarms.observe_health
        if self.remote is not None and self.publisher is not None:
            self.remote.bind(
                Site(
                    config,
                    self.writer,
                    self.publisher,
                    self.power.requests,
                    status=self._status,
                    counters=self._counters,
                    errors=self.remote.recent.snapshot,
                )
            )
        specs = registry()
        self.runners = [
            DeviceRunner(
                device,
                specs[device.driver].factory(device.options),
                push=specs[device.driver].push,
                on_sample=self._sample,
                on_state=self._device_state,
                clock=self.clock,
                stop=self.stop_event,
            )
            for device in config.devices
        ]

    def _shedding(self) -> Level:
        shedding = self.power.shedding
        return shedding.level if shedding is not None else Level.NORMAL

    def _jobs_running(self) -> tuple[JobKind, ...]:
        slots = list(self.power.jobs.slots.values())
        return tuple(s.config.policy.kind for s in slots if s.process is not None)

    def _records_committed(self, records: list[Record]) -> None:
        if self.discovery is not None:  # a sensor's config before its first value
            self.discovery.observe_records(records)
        if self.publisher is not None:
            self.publisher.publish_records(records)

    def _records_closed(self, records: list[Record]) -> None:
        if self.discovery is not None:
            self.discovery.observe_records(records)
        if self.publisher is not None:  # live about a second after the window ends
            self.publisher.publish_closed(records)

    def _sample(self, sample: Sample) -> None:
        self._store(sample)
        for bank_sample in self.battery.observe(sample):  # [[batteries]]: virtual devices
            self._store(bank_sample, alarms=bank_sample.device not in self.battery.measured)
        for row in self.battery.saves():
            self.writer.put_row(row)

    def _store(self, sample: Sample, alarms: bool = True) -> None:
        self.writer.put(sample)
        self.power.observe(sample)
        if alarms:
            self.alarms.observe_sample(sample)
        cadence = self.cadence.observe(sample)
        if cadence is not None:
            log.info("battery state of charge: committing every %g s", cadence)
            self.writer.set_commit_interval(cadence)

    def _device_state(self, device: str, state: DeviceState, changed: bool) -> None:
        self._put_state(device, state, changed)
        self.alarms.observe_state(device, state)
        # a bank's state follows its source devices', whose own alarms already cover it
        for bank in self.battery.observe_state(device, state):
            self._put_state(bank.bank, bank.state, bank.changed)
        if changed:  # `edged status` shows it at the next pass: its alarms and banks too
            self._live_requests.ask()

    def _put_state(self, device: str, state: DeviceState, changed: bool) -> None:
        self.writer.put_state(device, state)
        if self.discovery is not None:
            self.discovery.observe_state(device, state)
        if changed and self.publisher is not None:
            self.publisher.publish_device_state(device, state)

    def run(self, signals: StopSignals | None = None) -> None:
        """Run until `stop()` or one of `signals`; returns after an orderly shutdown."""
        log.info(
            "edged starting: site %s, %d device(s), database %s",
            self.config.site.id,
            len(self.runners),
            self.config.storage.path,
        )
        previous_hook, threading.excepthook = threading.excepthook, self._thread_died
        try:
            self._run(signals or StopSignals())
        finally:
            threading.excepthook = previous_hook
            if self._backstop is not None:  # stopped in time
                self._backstop.cancel()

    def _run(self, signals: StopSignals) -> None:
        self.writer.start()
        self.holding.open_door()  # clients waiting since the start are served from now on
        self.alarms.restore()
        if self.leds is not None:  # the verdict from the restored alarms, before any reading
            self.leds.start()
        self._restore_battery()
        self.clock.synced()  # a first verdict before a queued command asks `trusted`
        if self.remote is not None:
            self.remote.start()  # before the publisher: a queued command finds it ready
        if self.publisher is not None:
            self.publisher.start()
        for runner in self.runners:
            runner.start()
        if self.health is not None:
            self.health.start()
        self.power.start()
        self.watchdog.ready(f"running: {len(self.runners)} device runner(s) started")
        last_live = time.monotonic() - LIVE_EVERY  # the first round writes it: running at once
        last_prune = (
            last_live + LIVE_EVERY - PRUNE_EVERY + FIRST_PRUNE
        )  # a box cut every night still prunes
        was_busy = False
        jumped = self.clock.jumped_s
        while not signals.wait(LOOP_EVERY, self.stop_event):
            self.clock.synced()  # jump detection even with no device reading
            if self.clock.jumped_s != jumped:
                self.alarms.clock_jumped(self.clock.jumped_s - jumped)
                self.power.clock_jumped()
                jumped = self.clock.jumped_s
            self.power.poll()
            self.alarms.observe_storage(self.writer.storage_health(), time.time())
            if self.discovery is not None:
                self.discovery.observe_alarms(self.alarms.active())
            self.watchdog.tick(self._vitals())
            if self.leds is not None:
                self.leds.refresh()
            now, busy = time.monotonic(), self.power.busy
            wanted = self._live_requests.wanted  # a `status` or a device's change asked
            if now - last_live >= LIVE_EVERY or busy or was_busy or wanted:  # a job's end too
                self._write_live()
                last_live = now
            was_busy = busy
            if now - last_prune >= PRUNE_EVERY:
                storage = self.config.storage  # records: after their roll-up (services.rollups)
                self.writer.prune(
                    storage.sample_retention_days * 86400,
                    health_max_age=storage.health_retention_days * 86400,
                )
                self.rollups.start()
                last_prune = now
        self.stop_event.set()  # a signal only noted: the threads waiting on it stop now
        self._shutdown()

    def stop(self) -> None:
        """From another thread (never a signal handler: see `edged.stop_signals`)."""
        self.stop_event.set()

    def _vitals(self) -> Vitals:
        publisher = self.publisher
        return Vitals(
            devices=len(self.runners),
            devices_running=sum(r.is_alive() for r in self.runners),
            writer_running=self.writer.is_alive(),
            writer_idle_s=time.monotonic() - self.writer.heartbeat,
            writer_allowed_s=self.watchdog.grace,
            sender_running=publisher.sender_alive if publisher is not None else None,
            mqtt_connected=publisher is not None and publisher.connected,
        )

    def _thread_died(self, args: threading.ExceptHookArgs) -> None:
        """`threading.excepthook`: any thread ending in an exception stops the whole daemon."""
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        exc_info: tuple[type[BaseException], BaseException, TracebackType | None] | None = None
        if args.exc_value is not None:
            exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
        log.critical("thread %s died; stopping edged to be restarted", name, exc_info=exc_info)
        if self.died is None:
            self.died = name
            self._backstop = threading.Timer(STOP_GRACE, self._stop_overdue)
            self._backstop.daemon = True
            self._backstop.start()
        self.stop_event.set()

    def _stop_overdue(self) -> None:
        log.critical("orderly stop still not done %g s after a thread died: exiting", STOP_GRACE)
        logging.shutdown()
        os._exit(EXIT_THREAD_DIED)

    def _restore_battery(self) -> None:
        """The saved SOC estimates, before any sample arrives (else the estimate restarts)."""
        if not self.config.batteries:
            return
        try:
            saved = self.writer.call(queries.saved_state)
        except (RuntimeError, TimeoutError, DatabaseError) as exc:
            log.error("cannot load the saved battery estimates (they restart): %s", exc)
            return
        self.battery.restore(saved)

    def _status(self) -> Any:
        """`edged status --json` of this site, for the remote `status` command.

        Runs on the remote service's thread: it asks the main loop for a fresh live view
        (`live.ViewRequests`) rather than writing one."""
        # Imported when asked: the CLI's status and its texts cost the daemon RAM otherwise.
        from edged.cli.status import collect

        self._live_requests.ask_and_wait(STATUS_WAIT)
        return collect(self.config)

    def _counters(self) -> dict[str, Any]:
        return {
            "writer": self.writer.stats,
            "mqtt": self.publisher.stats if self.publisher is not None else None,
            "remote": self.remote.stats if self.remote is not None else None,
            "clock_jumps": self.clock.jumps,
        }

    def _write_live(self) -> None:
        self._live_requests.building()
        view = {
            "pid": os.getpid(),
            "devices": [{"device": r.device.id, **r.live_view()} for r in self.runners],
            "writer": self.writer.stats,
            "mqtt": self.publisher.stats if self.publisher is not None else None,
            "mqtt_connected": self.publisher is not None and self.publisher.connected,
            "clock_jumps": self.clock.jumps,
            "health": dict(self.health.latest) if self.health is not None else {},
            "alarms": self.alarms.active(),
            "power": self.power.view(),
            "leds": self.leds.view() if self.leds is not None else None,
            "remote": self.remote.stats if self.remote is not None else None,
            "door": self.holding.counts,
        }
        try:
            live.write(self.live_path, view)  # the main loop's thread only (`_status`)
        except OSError as exc:
            if not self.live_failed:
                log.warning("cannot write the live status file %s: %s", self.live_path, exc)
            self.live_failed = True
        self._live_requests.written()

    def _shutdown(self) -> None:
        log.info("edged stopping")
        self.watchdog.stopping()
        if self.leds is not None:  # nothing is watched from now on: no frozen "all well"
            self.leds.stop()
        self.power.stop()  # running jobs are recorded as stopped before the final commit
        self.rollups.join(timeout=30)
        for runner in self.runners:
            runner.join(timeout=5)
        if self.health is not None and self.health.is_alive():
            self.health.join(timeout=15)  # a round blocks at most its checks' timeouts
        for row in self.battery.saves(force=True):
            self.writer.put_row(row)
        if self.remote is not None:
            self.remote.stop()  # before the Writer: a command's last row is written
        self.holding.close_door()  # before the Writer's final commit: sessions rolled back
        self.writer.stop()
        self.holding.release()  # the last in-process connections closed with the Writer
        if self.publisher is not None:
            self.publisher.stop()
        live.mark_stopped(self.live_path)  # `edged status` now says since when it is stopped
        self.live_lock.release()
        log.info("edged stopped")
