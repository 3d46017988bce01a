"""The staff's `edged status` in four situations, captured from real runs: docs/fr/ecrans.md.

Not typed by hand: each screen is what `edged status` printed beside the real daemon (`edged
run`, a subprocess) reading a VE.Direct controller emulated on a pseudo-terminal, with a real
mosquitto as the ANTIM server. The four situations of the staff guide:

- all well: battery at 95 %, charging, the server reachable;
- low battery with load shedding: 25 % and discharging, `[shedding]` at its `warn` level;
- server down: the broker's port answers nobody;
- daemon stopped: the all-well daemon, stopped.

    .venv/bin/python -m tests.peers.status_screens docs/fr/ecrans.md

`tests/e2e/test_status_screens.py` runs the same situations and fails when the committed file
no longer matches what the code prints (dates and durations aside: `normalise`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.peers.broker import Broker, free_port
from tests.peers.daemon import DaemonProcess
from tests.peers.energy_pty import EnergyPty
from tests.peers.replay import wait_until

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120.0
"""Seconds a situation may take to settle (a busy 2-core machine running the suite twice)."""
PI_ENV = {"PATH": "/usr/bin:/bin", "LANG": "en_GB.UTF-8"}
"""A Raspberry Pi OS account as installed: an English locale, no EDGED_LANG; edged speaks
French all the same."""


@dataclass(frozen=True)
class Screen:
    key: str
    title: str
    headline: str
    """The verdict word the first line starts with."""
    text: str


def config(workdir: Path, port: str, broker_port: int, *, shedding: bool = False) -> Path:
    """A clinic's config: the controller by its display name, whom to call, no PiBox health
    (the machine running this is no PiBox)."""
    (workdir / "synced").touch()  # systemd-timesyncd's flag: the clock is synchronised
    path = workdir / "edged.toml"
    path.write_text(
        '[site]\nid = "kati"\nname = "CSCOM de Kati"\n'
        'contact = "Technicien ANTIM : Moussa Diarra, 76 12 34 56"\n\n'
        f'[storage]\npath = "{workdir / "edged.db"}"\ncommit_interval = 0.5\n'
        f'live_path = "{workdir / "live.json"}"\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker_port}\nreconnect_min = 0.2\n'
        "reconnect_max = 1.0\n\n[telemetry]\npublish_interval = 1.0\n\n"
        "[health]\nenabled = false\n\n"
        f'[power]\ncapacity_wh = 2400\ntick = 0.5\ntimesync_flag = "{workdir / "synced"}"\n'
        "auto_report = false\n\n"
        + (
            '[shedding]\nservices = ["openclinic"]\n'
            'stop_command = ["true", "{service}"]\n'
            'start_command = ["true", "{service}"]\n\n'
            if shedding
            else ""
        )
        + f'[[devices]]\nid = "mppt"\nname = "Régulateur solaire"\ndriver = "vedirect"\n'
        f'port = "{port}"\n'
    )
    return path


def status(cfg: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "edged.cli", "status", "--config", str(cfg)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=PI_ENV,
    )
    return out.stdout


@contextmanager
def daemon(cfg: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(cfg, cfg.parent / "daemon.log", env={"EDGED_LANG": "fr"})
    d.start()
    try:
        yield d
    finally:
        d.stop()


def settled(
    cfg: Path, ready: Callable[[str], bool], what: str, running: DaemonProcess | None = None
) -> str:
    """The status once `ready` holds for it; the daemon's log in the failure otherwise (at
    once when `running`, the daemon that should be running, has exited)."""
    seen: list[str] = []

    def check() -> str | None:
        if running is not None and running.proc is not None and running.proc.poll() is not None:
            raise AssertionError(f"edged exited ({running.proc.returncode})")
        seen[:] = [status(cfg)]
        return seen[0] if ready(seen[0]) else None

    try:
        return wait_until(check, TIMEOUT, interval=0.5, what=what)
    except AssertionError as exc:
        log = (cfg.parent / "daemon.log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"{exc}\nlast status:\n{''.join(seen)}\ndaemon log:\n{log}") from None


def starts(headline: str, *also: str) -> Callable[[str], bool]:
    """The first line, and every figure the screen must show (the first live view may come
    before the controller's first full record)."""
    return lambda text: text.startswith(headline) and all(a in text for a in also)


def all_well_then_stopped(workdir: Path) -> list[Screen]:
    broker = Broker(workdir)
    broker.start()
    try:
        with EnergyPty(soc=95.0, amps=5.0) as pty:
            cfg = config(workdir, pty.path, broker.port)
            with daemon(cfg) as d:
                well = settled(
                    cfg,
                    starts("TOUT VA BIEN", "en service", "Batterie : 95 %, en charge"),
                    "all well",
                    d,
                )
                assert d.terminate(timeout=60) == 0, d.logs()[-3000:]
                stopped = settled(
                    cfg, starts("SURVEILLANCE ARRÊTÉE", "Batterie : 95 %\n"), "monitoring stopped"
                )
    finally:
        broker.stop()
    return [
        Screen("tout-va-bien", "Tout va bien", "TOUT VA BIEN", well),
        Screen("arrete", "Surveillance arrêtée", "SURVEILLANCE ARRÊTÉE", stopped),
    ]


def low_battery(workdir: Path) -> Screen:
    broker = Broker(workdir)
    broker.start()
    try:
        with EnergyPty(soc=25.0, amps=-3.0, pv_w=0.0, state="off") as pty:
            cfg = config(workdir, pty.path, broker.port, shedding=True)
            with daemon(cfg) as d:
                # the alarm by its number (stored), which `edged alarms ack` takes
                ready = starts("ÉCONOMISER L'ÉNERGIE", "Batterie : 25 %\n")
                text = settled(
                    cfg, lambda s: ready(s) and re.search(r"ack \d+", s), "saving energy", d
                )
    finally:
        broker.stop()
    return Screen("economiser", "Batterie faible : économie d'énergie", "ÉCONOMISER", text)


def server_down(workdir: Path) -> Screen:
    with EnergyPty(soc=80.0, amps=2.0) as pty:
        cfg = config(workdir, pty.path, free_port())  # nobody listens there
        with daemon(cfg) as d:
            text = settled(
                cfg, starts("APPELER LE TECHNICIEN", "Appeler", "80 %, en charge"), "server down", d
            )
    return Screen("serveur", "Plus de liaison avec le serveur", "APPELER LE TECHNICIEN", text)


def capture(workdir: Path) -> list[Screen]:
    """The four screens, each from its own run in its own folder under `workdir`."""
    folders = [workdir / name for name in ("well", "low", "down")]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    well, stopped = all_well_then_stopped(folders[0])
    return [well, low_battery(folders[1]), server_down(folders[2]), stopped]


INTRO = """\
# Ce qu'affiche `edged status` : quatre exemples

Captures réelles : `edged status` tapé sur un PiBox de démonstration (le vrai programme, un
régulateur solaire simulé). Les heures et les durées changent d'une fois à l'autre ; le reste
est ce que le personnel lit. La première ligne dit tout (voir [guide.md](guide.md)).

<!-- Fichier produit par : .venv/bin/python -m tests.peers.status_screens docs/fr/ecrans.md
     (ne pas modifier à la main ; tests/e2e/test_status_screens.py le vérifie). -->
"""


def document(screens: list[Screen]) -> str:
    parts = [INTRO]
    for screen in screens:
        parts.append(f"\n## {screen.title}\n\n```\n$ edged status\n{screen.text}```\n")
    return "".join(parts)


def blocks(markdown: str) -> dict[str, str]:
    """Each screen of a document by its title: the lines `edged status` printed."""
    found = re.findall(r"^## (.+?)\n\n```\n\$ edged status\n(.*?)```$", markdown, re.M | re.S)
    return dict(found)


_DATE = re.compile(r"\d{1,2} [a-zéû]+\.? à \d{1,2} h \d{2}")
_AGO = re.compile(r"il y a [\d,]+ (?:s|min|h|jours?)\b")
_ALARM = re.compile(r"(n° |ack )\d+")


def normalise(text: str) -> str:
    """Dates, ages and alarm numbers replaced by placeholders: what the code says, not when it
    said it or how many alarms the database held before."""
    text = _ALARM.sub(r"\1<n>", _DATE.sub("<date>", text))
    return _AGO.sub("il y a <durée>", text)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.peers.status_screens docs/fr/ecrans.md", file=sys.stderr)
        return 2
    os.environ.pop("EDGED_LANG", None)
    with tempfile.TemporaryDirectory(prefix="edged-screens-") as tmp:
        screens = capture(Path(tmp))
    Path(argv[0]).write_text(document(screens))
    print(argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
