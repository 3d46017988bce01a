"""Simulated VE.Direct devices on a pseudo-terminal: demos (`edged simulate`), tests, benchmarks.

Models: `mppt` (SmartSolar MPPT 100/20, newer firmware: PID..OR and ERR..HSDS blocks, now and
then an async HEX frame right after a checksum byte), `mppt-legacy` (BlueSolar 75/15, one block),
`bmv` (BMV-712 main + history blocks), `smartshunt`. Values come from `simulation.SolarSite`.
Built on `codec.encode_block` and the code tables, so it cannot prove them right: the captures in
tests/captures are the authority. `unplug()`/`replug()` behave like a USB cable pulled and put
back: the link disappears and the pty master closes (the kernel hangs up the reader's side, which
pyserial reports as "readiness to read but returned no data", as for a real USB adapter), then a
new pty appears behind the link.

The port is only ever handed out as a link (a private one when none is asked for), never as the
`/dev/pts/N` name: the kernel gives a freed pty number to the next pty opened on the machine, so a
reader that reopened a stopped emulator's `/dev/pts/N` would become a second reader of some other
emulator's port, stealing its bytes (the other reader then sees "readiness to read but returned
no data" every few seconds). A link removed on unplug cannot lead anywhere.

    python -m drivers.victron.vedirect.emulator --model mppt --link /tmp/ttyVE0 [--interval 1]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import shutil
import signal
import tempfile
import threading
import time
import tty
from collections import deque
from collections.abc import Callable

from drivers.victron.vedirect import tables
from drivers.victron.vedirect.codec import encode_block, encode_hex
from drivers.victron.vedirect.simulation import SolarSite
from edged.stop_signals import StopSignals

log = logging.getLogger(__name__)

Block = list[tuple[str, str]]


def _code(table: dict[int, str], name: str) -> str:
    return str(next(code for code, n in table.items() if n == name))


def _mv(volts: float) -> str:
    return str(round(volts * 1000))


def _charger_fields(site: SolarSite) -> dict[str, str]:
    """Every MPPT field in wire units; a model picks and orders the ones it sends."""
    off = site.state == "off"
    return {
        "V": _mv(site.battery_v),
        # an MPPT's `I` is its battery current with its own load output already taken off (at
        # night with the load on it reads about minus the load current: victronenergy/venus#233)
        "I": _mv(site.charger_i - site.load_i),
        "VPV": _mv(site.pv_v),
        "PPV": str(round(site.pv_w)),
        "CS": _code(tables.CS_STATES, site.state),
        "MPPT": _code(tables.TRACKER_MODES, site.tracker),
        "OR": "0x00000001" if off else "0x00000000",
        "ERR": "0",
        "LOAD": "ON",
        "IL": _mv(site.load_i),
        "H19": str(round(site.yield_total * 100)),
        "H20": str(round(site.yield_today * 100)),
        "H21": str(round(site.max_w_today)),
        "H22": str(round(site.yield_yesterday * 100)),
        "H23": str(round(site.max_w_yesterday)),
        "HSDS": str(site.day_sequence),
    }


def mppt(site: SolarSite, serial: str) -> list[Block]:
    f = _charger_fields(site)
    head = [("PID", "0xA05F"), ("FWE", "0163FF"), ("SER#", serial)]
    first = head + [(k, f[k]) for k in ("V", "I", "VPV", "PPV", "CS", "MPPT", "OR")]
    return [
        first,
        [(k, f[k]) for k in ("ERR", "LOAD", "IL", "H19", "H20", "H21", "H22", "H23", "HSDS")],
    ]


def mppt_legacy(site: SolarSite, serial: str) -> list[Block]:
    f = _charger_fields(site)
    head = [("PID", "0xA042"), ("FW", "123"), ("SER#", serial)]
    keys = ("V", "I", "VPV", "PPV", "CS", "ERR", "LOAD", "IL", "H19", "H20", "H21", "H22", "H23")
    return [head + [(k, f[k]) for k in keys] + [("HSDS", f["HSDS"])]]


def _monitor(site: SolarSite, aux: Block, relay: bool) -> Block:
    low_soc = site.soc < 20
    fields = [("V", _mv(site.battery_v)), *aux, ("I", _mv(site.battery_i))]
    fields += [("P", str(round(site.battery_v * site.battery_i))), ("CE", _mv(site.consumed_ah))]
    fields += [("SOC", str(round(site.soc * 10))), ("TTG", str(site.time_to_go_min))]
    fields += [("Alarm", "ON" if low_soc else "OFF")]
    fields += [("Relay", "ON" if low_soc else "OFF")] if relay else []
    return fields + [("AR", "4" if low_soc else "0")]


def _history(site: SolarSite, aux_stats: bool) -> Block:
    t = site.totals
    rows = [("H1", _mv(t.deepest_ah)), ("H2", _mv(t.last_ah)), ("H3", _mv(t.deepest_ah / 2))]
    rows += [("H4", str(t.cycles)), ("H5", "0"), ("H6", _mv(t.drawn_ah))]
    rows += [("H7", _mv(t.v_min)), ("H8", _mv(t.v_max)), ("H9", str(round(t.since_full)))]
    rows += [("H10", str(t.syncs)), ("H11", "0"), ("H12", "0")]
    rows += [("H13", "0"), ("H14", "0")] if aux_stats else []
    rows += [("H15", "11950"), ("H16", "13400")] if aux_stats else []
    return rows + [
        ("H17", str(round(t.discharged_kwh * 100))),
        ("H18", str(round(t.charged_kwh * 100))),
    ]


def bmv(site: SolarSite, serial: str) -> list[Block]:
    main = [("PID", "0xA381"), *_monitor(site, [("VS", "12710")], relay=True)]
    main += [("BMV", "712 Smart"), ("FW", "0414"), ("MON", "0")]
    return [main, _history(site, aux_stats=True)]


def smartshunt(site: SolarSite, serial: str) -> list[Block]:
    mid = site.battery_v / 2
    aux = [("VM", _mv(mid)), ("DM", "3")]
    main = [("PID", "0xA389"), *_monitor(site, aux, relay=False)]
    main += [("BMV", "SmartShunt 500A/50mV"), ("FW", "0405"), ("MON", "0")]
    return [main, _history(site, aux_stats=False)]


MODELS: dict[str, tuple[Callable[[SolarSite, str], list[Block]], dict[str, float]]] = {
    # model -> (blocks of one cycle, the system around it)
    "mppt": (mppt, {"nominal_v": 24.0, "charge_limit_a": 20.0, "pv_peak_w": 520.0}),
    "mppt-legacy": (mppt_legacy, {"nominal_v": 12.0, "charge_limit_a": 15.0, "pv_peak_w": 200.0}),
    "bmv": (bmv, {"nominal_v": 24.0}),
    "smartshunt": (smartshunt, {"nominal_v": 24.0}),
}

ASYNC_REGISTERS = (0xEDBB, 0xEDD5, 0xEDD7)  # panel V (0.01 V), charger V (0.01 V), I (0.1 A)


class PtyEmulator:
    """One simulated device pushing a cycle of blocks every `interval` seconds on a pty."""

    def __init__(
        self, model: str, link: str | None = None, interval: float = 1.0, seed: int | None = None
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; expected one of {', '.join(MODELS)}")
        self.model, self.interval = model, interval
        self.link = link or ""
        self._own_dir = ""
        """Without a `link`, a private directory holding one, made at start, removed at stop."""
        self._render, system = MODELS[model]
        self._rng = random.Random(seed)
        self._site = SolarSite(self._rng, **system)
        self._serial = f"HQ{self._rng.randrange(10**9):09d}"
        self.sent: deque[dict[str, str]] = deque(maxlen=10_000)
        """Field dicts of the blocks written, oldest first (bounded for long demo runs)."""
        self.dropped = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fds: tuple[int, int] | None = None
        self._tty = ""

    @property
    def path(self) -> str:
        """The port to open: always the link, never the recyclable `/dev/pts/N` name."""
        return self.link

    @property
    def tty(self) -> str:
        """The current pty's own name (for diagnostics; give readers `path`)."""
        return self._tty

    def start(self) -> PtyEmulator:
        self.replug()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"vedirect-{self.model}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.unplug()
        if self._own_dir:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = self.link = ""

    def unplug(self) -> None:
        """The cable is pulled: the link disappears, then the pty closes (readers are hung up)."""
        with self._lock:
            fds, self._fds = self._fds, None
            _remove(self.link)
        for fd in fds or ():
            os.close(fd)

    def replug(self) -> None:
        """A new pty appears behind the same link."""
        if not self.link:
            self._own_dir = tempfile.mkdtemp(prefix="vedirect-emulator-")
            self.link = os.path.join(self._own_dir, "tty")
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo or line editing before the reader configures the port
        os.set_blocking(master, False)  # no reader must never block the emulator
        with self._lock:
            old, self._fds, self._tty = self._fds, (master, slave), os.ttyname(slave)
            tmp = f"{self.link}.tmp"
            _remove(tmp)
            os.symlink(self._tty, tmp)
            os.replace(tmp, self.link)
        for fd in old or ():
            os.close(fd)

    def inject(self, raw: bytes) -> None:
        """Write arbitrary bytes (line noise, captures) into the stream."""
        with self._lock:
            self._write(raw)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            self._site.step(time.time(), now - last)
            last = now
            blocks = self._render(self._site, self._serial)
            wire = b"".join(encode_block(block) + self._async_hex() for block in blocks)
            with self._lock:
                if self._fds is not None and self._write(wire):
                    self.sent.extend(dict(block) for block in blocks)

    def _async_hex(self) -> bytes:
        """Newer MPPT firmware pushes HEX frames on value changes, right after a checksum byte."""
        if self.model != "mppt" or self._rng.random() > 0.3:
            return b""
        register = self._rng.choice(ASYNC_REGISTERS)
        site = self._site
        value = {0xEDBB: site.pv_v * 100, 0xEDD5: site.battery_v * 100}.get(register)
        raw = round(value if value is not None else site.charger_i * 10)
        return encode_hex(0xA, register.to_bytes(2, "little") + b"\x00" + raw.to_bytes(2, "little"))

    def _write(self, data: bytes) -> bool:
        """Write under the lock; like a UART nobody listens to, what does not fit is lost."""
        if self._fds is None:
            return False
        try:
            written = os.write(self._fds[0], data)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            log.debug("emulator write failed: %s", exc)
            written = 0
        self.dropped += len(data) - written
        return written == len(data)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Simulated Victron VE.Direct device on a pty")
    parser.add_argument("--model", choices=sorted(MODELS), default="mppt")
    parser.add_argument("--link", help="symlink to create for the pty (e.g. /tmp/ttyVE0)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between cycles")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stops = StopSignals().install(signal.SIGINT, signal.SIGTERM)
    emulator = PtyEmulator(args.model, args.link, args.interval, args.seed).start()
    log.info("%s emulator on %s (Ctrl-C to stop)", args.model, emulator.path)
    stops.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
