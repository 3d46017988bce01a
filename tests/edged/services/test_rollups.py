"""The hourly rollups round runs in a child process, so its heap and imports leave with it."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

from edged.config.settings import Config
from edged.config.site import SiteConfig, StorageConfig
from edged.readings import Record
from edged.services.rollups import RollupTask
from telemetry import store

HOUR = 3600


def config(path, retention_days: float = 62.0) -> Config:
    storage = StorageConfig(path=str(path), record_retention_days=retention_days)
    return Config(site=SiteConfig("t"), storage=storage)


def stored_records(path, hours: int, start: float) -> None:
    db = store.open_db(path)
    records = [
        (i + 1, Record("mppt", start + 60 * i, True, 60, {"battery_voltage": 12.5 + i % 3}), 0)
        for i in range(hours * 60)
    ]
    acked = {rid for rid, *_ in records}  # the broker has them all
    store.write(db, store.Batch(records=records, acks=acked), store.Ids.load(db))
    db.conn.close()


def test_a_round_rolls_up_and_prunes_in_a_child_and_reports_its_counts(tmp_path):
    path = tmp_path / "edged.db"
    start = (time.time() // HOUR - 72) * HOUR  # three days ago, on the hour
    stored_records(path, 6, start)
    task = RollupTask(config(path, retention_days=1))
    assert task.run_once() == (360, 359)  # each device's newest record is kept
    db = store.open_db(path, readonly=True)
    hours = db.execute("SELECT count(*) FROM rollups WHERE period_s = 3600").fetchone()[0]
    assert hours == 6 and task.failures == 0
    assert task.run_once() == (0, 0)  # nothing new: the next round does nothing


def test_the_daemon_side_never_imports_the_rollup_code(tmp_path):
    path = tmp_path / "edged.db"
    stored_records(path, 2, (time.time() // HOUR - 5) * HOUR)
    code = (
        "import sys\n"
        "from edged.config.settings import Config\n"
        "from edged.config.site import SiteConfig, StorageConfig\n"
        "from edged.services.rollups import RollupTask\n"
        f"task = RollupTask(Config(SiteConfig('t'), StorageConfig(path={str(path)!r})))\n"
        "print(task.run_once(), 'maintenance.report.rollup_store' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(120, 0) False"


def test_a_failing_child_is_logged_and_counted_never_raised(tmp_path, caplog):
    garbage = tmp_path / "edged.db"
    garbage.write_bytes(b"not a database at all" * 100)
    task = RollupTask(config(garbage))
    with caplog.at_level(logging.ERROR, logger="edged.services.rollups"):
        assert task.run_once() is None
    assert task.failures == 1 and "exit status 1" in caplog.text
    # a child that answers nonsense, or dies from a signal
    for command in (
        [sys.executable, "-c", 'print(\'{"rolled": "many"}\')'],
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
        [sys.executable, "-c", "print('x' * 100000)"],
        [str(tmp_path / "no-such-python")],  # cannot even start
    ):
        task.command = lambda command=command: command
        assert task.run_once() is None
    assert task.failures == 5
    assert "unreadable answer" in caplog.text and "exit status -9" in caplog.text
    assert "cannot start it" in caplog.text


def test_stopping_the_daemon_ends_a_round_still_running(tmp_path):
    task = RollupTask(config(tmp_path / "edged.db"))
    task.command = lambda: [sys.executable, "-c", "import time; time.sleep(120)"]
    task.start()
    deadline = time.monotonic() + 30
    while task._child is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child = task._child
    began = time.monotonic()
    task.join(timeout=0.5)
    assert child is not None and child.poll() is not None
    assert time.monotonic() - began < 20
    task.start()  # after the stop, no new round begins
    task.join(timeout=5)
    assert task._child is child


def test_the_child_logs_at_the_daemons_level(tmp_path):
    for level, said in (("WARNING", False), ("INFO", True)):
        path = tmp_path / f"{level}.db"  # each with records to roll up (a round logs only then)
        stored_records(path, 2, (time.time() // HOUR - 5) * HOUR)
        code = (
            "import logging\n"
            "from edged.config.settings import Config\n"
            "from edged.config.site import SiteConfig, StorageConfig\n"
            "from edged.services.rollups import RollupTask\n"
            f"logging.basicConfig(level={level!r})\n"
            f"task = RollupTask(Config(SiteConfig('t'), StorageConfig(path={str(path)!r})))\n"
            "print(task.run_once())"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        assert ("rolled up" in out.stderr) is said, (level, out.stderr)
