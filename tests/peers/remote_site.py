"""A site for the remote-command tests: mosquitto, a VE.Direct controller on a pty and
`edged run` with `[remote]`, a backup job, an `[[equipment]]` item and one active alarm."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from telemetry.store import open_db
from tests.peers.broker import Broker
from tests.peers.commander import Commander
from tests.peers.daemon import DaemonProcess, db_rows, write_config
from tests.peers.energy_pty import EnergyPty
from tests.peers.replay import wait_until
from tests.peers.subscriber import Subscriber

PREFIX = "remote"
P = f"{PREFIX}/test-site"
KEY = "k3y-of-the-test-site-0123456789"
ALL = '["ping", "status", "support_summary", "alarm_ack", "backup_now", "report_regenerate", '
ALL += '"maintenance_log", "resend"]'


def far_window() -> str:
    """A one-minute start window twelve hours away: the job never starts on its schedule."""
    hour = (dt.datetime.now(dt.UTC).hour + 12) % 24
    return f'[["{hour:02d}:00", "{hour:02d}:01"]]'


def site_config(workdir: Path, pty: Path, broker_port: int, remote: str) -> Path:
    (workdir / "synced").touch()
    backup = ["sh", "-c", f"echo progress: 100; echo done > {workdir / 'backup.done'}"]
    extra = (
        f"[power]\ncapacity_wh = 2400\ntick = 0.5\ntimesync_flag = "
        f'"{workdir / "synced"}"\nauto_report = false\n\n'
        f"[health]\nenabled = false\n\n{remote}\n"
        '[[equipment]]\nitem = "batterie"\ncategory = "other"\npurchase_cost = 400000\n\n'
        f'[[jobs]]\nname = "backup"\nkind = "backup"\ncommand = {json.dumps(backup)}\n'
        f"max_duration = 30\npower_w = 5\nwindows = {far_window()}\n\n"
        f'[[devices]]\nid = "mppt"\ndriver = "vedirect"\nport = "{pty}"\n'
    )
    path = write_config(workdir, devices="", broker_port=broker_port, prefix=PREFIX, extra=extra)
    text = path.read_text().replace("[storage]\n", f'[storage]\nreports_dir = "{workdir}/rep"\n')
    path.write_text(
        text.replace(
            'topic_prefix = "remote"\n',
            'topic_prefix = "remote"\npassword = "broker-secret"\nusername = "test-site"\n',
        )
    )
    return path


def seed_alarm(db_path: Path) -> None:
    """An active alarm, as the daemon stores one (it restores it at start)."""
    db = open_db(db_path)
    with db.conn:
        db.execute(
            "INSERT INTO alarms (alarm_id, rule, subject, severity, active, since, message,"
            " message_en, value) VALUES ('pibox_disk_full.pibox', 'pibox_disk_full', 'pibox',"
            " 'warning', 1, ?, 'Disque plein', 'Disk full', '97')",
            (time.time() - 60,),
        )
    db.conn.close()


class Site:
    def __init__(
        self,
        workdir: Path,
        remote: str,
        env: dict[str, str] | None = None,
        broker: Broker | None = None,
    ) -> None:
        """`env`: the daemon's extra environment (libfaketime's, tests.peers.faketime).
        `broker`: a running broker to use (the fleet's central one, shared with the collector
        and the dashboard), left running at `close()`; without it the site starts its own."""
        self.workdir = workdir
        self._own_broker = broker is None
        self.broker = broker or Broker(workdir)
        if self._own_broker:
            self.broker.start()
        self.pty = EnergyPty(soc=95.0).__enter__()
        self.config = site_config(workdir, self.pty.path, self.broker.port, remote)
        seed_alarm(workdir / "edged.db")
        self.daemon = DaemonProcess(self.config, workdir / "edged.log", env)
        self.start()

    def start(self) -> None:
        watch = Subscriber(self.broker.host, self.broker.port, f"{P}/status").start()
        self.daemon.start()
        try:
            wait_until(
                lambda: (
                    watch.received(lambda m: m.payload == b"online")
                    or self.daemon.proc.poll() is not None
                ),
                30,
                what="the daemon online",
            )
            assert self.daemon.proc.poll() is None, self.daemon.logs()[-2000:]
        finally:
            watch.stop()

    def commander(self, key: str | None = KEY) -> Commander:
        return Commander(self.broker.host, self.broker.port, P, key).start()

    def rows(self, sql: str) -> list[tuple]:
        return db_rows(self.workdir / "edged.db", sql)

    def live(self) -> dict:
        """The daemon's live view ({} before its first, a few seconds after start)."""
        try:
            return json.loads((self.workdir / "live.json").read_text())
        except FileNotFoundError:
            return {}

    def close(self) -> None:
        self.daemon.stop()
        self.pty.__exit__(None, None, None)
        if self._own_broker:
            self.broker.stop()
