"""Real peers for the central side: a PostgreSQL cluster, mosquitto, `edged-fleet collect`."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.fleet.postgres import Postgres, pg_bindir
from tests.fleet.web import WebServer, browser, remove_profile
from tests.peers.broker import Broker

# queue without limit for an absent collector's session: the default (1000) drops the rest
BROKER_CONF = "max_queued_messages 0\n"


@pytest.fixture(scope="session")
def postgres():
    """One cluster for the session (initdb costs seconds); each test gets its own database."""
    if pg_bindir() is None:
        pytest.skip("PostgreSQL binaries missing: apt-get install postgresql (scripts/test does)")
    pg = Postgres()
    pg.start()
    yield pg
    pg.destroy()


@pytest.fixture
def fleet_dsn(postgres):
    return postgres.create_database(f"fleet_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def db(fleet_dsn):
    """Run SQL on the test's database: `db(sql, *params) -> rows` (autocommit, fresh snapshot)."""
    conns: list[psycopg.Connection] = []

    def query(sql: str, *params):
        for attempt in (1, 2):
            if not conns or conns[0].closed or conns[0].broken:
                conns[:] = [psycopg.connect(fleet_dsn, autocommit=True)]
            try:
                cur = conns[0].execute(sql, params or None)
                return cur.fetchall() if cur.description else []
            except psycopg.errors.UndefinedTable:  # the collector has not migrated yet
                return []
            except psycopg.OperationalError:  # the server restarted under this connection
                conns[0].close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    yield query
    for conn in conns:
        conn.close()


@pytest.fixture
def central(tmp_path):
    """The central broker (MQTT 5, shared subscriptions) on a free loopback port."""
    b = Broker(tmp_path, extra_conf=BROKER_CONF)
    b.start()
    yield b
    b.stop()


class CollectorProcess:
    def __init__(self, args: list[str], log: Path) -> None:
        self.args, self.log = args, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> CollectorProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fleet.cli", "--log-level", "DEBUG", "collect", *self.args],
                stdout=out,
                stderr=out,
                env=env,
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout)

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def collectors(tmp_path, central, fleet_dsn):
    """`make(slot=1, *extra_args)` starts a collector on the central broker and the test's
    database (log: tmp_path/collector-{slot}-{n}.log, the n-th started); all are killed at the
    end of the test."""
    started: list[CollectorProcess] = []

    def make(slot: int = 1, *extra: str, prefix: str = "edged") -> CollectorProcess:
        args = [
            "--broker",
            f"{central.host}:{central.port}",
            "--dsn",
            fleet_dsn,
            "--group",
            "test",
            "--slot",
            str(slot),
            "--prefix",
            prefix,
            *extra,
        ]
        log = tmp_path / f"collector-{slot}-{len(started) + 1}.log"
        c = CollectorProcess(args, log).start()
        started.append(c)
        return c

    yield make
    for c in started:
        if c.alive():
            c.kill()


@pytest.fixture
def dashboards(tmp_path, central, fleet_dsn):
    """`make(*extra_args)` starts `edged-fleet web` on the test's database and central broker;
    all are stopped at the end of the test."""
    started: list[WebServer] = []

    def make(*extra: str):
        log = tmp_path / f"web-{len(started) + 1}.log"
        server = WebServer(fleet_dsn, (central.host, central.port), log, *extra)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def chrome(tmp_path):
    """Headless Chromium through chromedriver, with a profile of its own (removed after)."""
    profile = tmp_path / "chromium-profile"
    driver = browser(profile)
    yield driver
    driver.quit()
    remove_profile(profile)
