"""A VE.Direct charge controller on a pty whose readings the test sets: SOC, volts, PV, state.

The simulators in drivers/victron/vedirect follow a simulated sun; a power-policy test needs the
battery where it wants it (95 % to start a backup, 35 % to stop it). Blocks are encoded by the
real codec (`encode_block`) and read by the real driver through the daemon.

`path` is a link that goes with the pty, never the `/dev/pts/N` name, which the kernel recycles:
a daemon still retrying this port after the test must not land on another test's pty.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import tty

from drivers.victron.vedirect.codec import encode_block

CS_CODES = {"off": "0", "bulk": "3", "absorption": "4", "float": "5"}


class EnergyPty:
    def __init__(
        self,
        soc: float = 95.0,
        volts: float = 13.2,
        pv_w: float = 300.0,
        amps: float = 5.0,
        state: str = "bulk",
        every: float = 0.25,
    ) -> None:
        self.values = {"soc": soc, "volts": volts, "pv_w": pv_w, "amps": amps, "state": state}
        self.every = every
        self._stop = threading.Event()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self._dir = tempfile.mkdtemp(prefix="energy-pty-")
        self.path = os.path.join(self._dir, "tty")
        os.symlink(os.ttyname(self._slave), self.path)
        self._thread = threading.Thread(target=self._run, args=(self._master,), daemon=True)

    def set(self, **values: float | str) -> None:
        self.values.update(values)

    def block(self) -> bytes:
        v = self.values
        return encode_block(
            [
                ("PID", "0xA053"),
                ("V", str(round(v["volts"] * 1000))),
                ("I", str(round(v["amps"] * 1000))),
                ("VPV", "36000"),
                ("PPV", str(round(v["pv_w"]))),
                ("CS", CS_CODES[str(v["state"])]),
                ("ERR", "0"),
                ("SOC", str(round(v["soc"] * 10))),
            ]
        )

    def _run(self, master: int) -> None:
        while not self._stop.wait(self.every):
            try:
                os.write(master, self.block())
            except OSError:
                return

    def __enter__(self) -> EnergyPty:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)  # first: nothing may reopen it
        self._stop.set()
        self._thread.join(2)
        os.close(self._master)
        os.close(self._slave)
