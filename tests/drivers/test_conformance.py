"""Every driver in the registry keeps the contract of `drivers.base`, checked the same way for all.

A new driver gets these checks by being listed in `drivers.registry`: built from a config the
loader filled in (defaults included), against peers that misbehave as field devices do:
- a port that does not exist or a TCP peer that refuses: `open` raises `DeviceUnavailable`;
- a peer that streams garbage: `read` returns by its deadline, raises only a `DriverError`, and
  whatever it returns is a `Reading` with catalogue metric names only; garbage is counted;
- a silent peer: `read` returns by its deadline (no hang, no sleep-and-retry inside the driver);
- a port that vanishes while open: `read` raises `DeviceUnavailable`;
- `close` twice, or before `open`, is harmless.
Deadlines are checked with a wide margin (the suite runs on busy machines): the point is that a
driver never blocks the runner for long, not how fast it is.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from drivers.base import DeviceUnavailable, Driver, DriverError
from drivers.registry import registry
from edged.config.loader import parse
from edged.metrics import CATALOGUE
from edged.readings import Reading
from tests.peers.replay import ReplayPty

DRIVERS = sorted(registry())
TCP_DRIVERS = {"victron-gx"}
READ_S = 1.0
SLACK_S = 10.0
"""How far past its deadline a read may return before it counts as blocking the runner."""


def build(name: str, endpoint: str | int) -> Driver:
    """The driver `name` as the daemon builds it: options filled in by the config loader."""
    device: dict[str, object] = {"id": "dut", "driver": name}
    if name in TCP_DRIVERS:
        device.update(host="127.0.0.1", port=int(endpoint))
    else:
        device["port"] = str(endpoint)
    config = parse({"site": {"id": "t", "name": "t"}, "devices": [device]})
    (dev,) = config.devices
    return registry()[name].factory(dev.options)


def garbage(seed: int, chunks: int = 40) -> list[bytes]:
    """Random bytes with protocol-looking starts mixed in (':', '~', 0xDD, 0xA5, 'N', 0x4E)."""
    rng = random.Random(seed)
    starts = [b":", b"~", b"\xdd", b"\xa5", b"NW", b"\r\nV\t", b"\x01\x03"]
    return [rng.choice(starts) + rng.randbytes(rng.randint(1, 300)) for _ in range(chunks)]


@contextmanager
def serial_peer(tmp_path: Path, chunks: list[bytes], period: float) -> Iterator[ReplayPty]:
    pty = ReplayPty(tmp_path / "ttyDUT", chunks, period=period)
    pty.start()
    try:
        yield pty
    finally:
        pty.stop()


@contextmanager
def tcp_peer(chunks: list[bytes] | None) -> Iterator[int]:
    """A loopback peer that accepts and then sends `chunks` (None: stays silent)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    stop, conns = threading.Event(), []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conns.append(conn)
            for chunk in chunks or []:
                try:
                    conn.sendall(chunk)
                except OSError:
                    break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()
        for conn in conns:
            conn.close()
        thread.join(5)


def timed_read(driver: Driver) -> tuple[list[Reading] | DriverError, float]:
    """One read with a READ_S deadline: what it gave (readings or the DriverError it raised)
    and how far past the deadline it returned."""
    deadline = time.monotonic() + READ_S
    try:
        got: list[Reading] | DriverError = driver.read(deadline)
    except DriverError as exc:
        got = exc
    return got, time.monotonic() - deadline


def assert_contract_readings(got: list[Reading] | DriverError) -> None:
    if isinstance(got, DriverError):
        return
    assert isinstance(got, list)
    for reading in got:
        assert isinstance(reading, Reading)
        unknown = set(reading.metrics) - set(CATALOGUE)
        assert not unknown, f"metrics outside the catalogue: {sorted(unknown)}"


def closed_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nobody listens once closed


@pytest.mark.parametrize("name", DRIVERS)
def test_every_option_is_documented_and_its_default_passes_its_own_check(name):
    spec = registry()[name]
    assert spec.description and spec.default_interval > 0
    for key, option in spec.options.items():
        if option.required or option.default is None:
            continue
        assert isinstance(option.default, option.type), (key, option.default)
        if option.check is not None:
            assert option.check(option.default) is None, (key, option.default)


@pytest.mark.parametrize("name", DRIVERS)
def test_a_missing_port_or_refusing_peer_is_device_unavailable(name, tmp_path):
    endpoint = closed_tcp_port() if name in TCP_DRIVERS else tmp_path / "ttyUSB-gone"
    driver = build(name, endpoint)
    with pytest.raises(DeviceUnavailable):
        driver.open()
        driver.read(time.monotonic() + READ_S)  # a lazy transport may notice only here
    driver.close()
    driver.close()


@pytest.mark.parametrize("name", DRIVERS)
@pytest.mark.parametrize("seed", [1, 2])
def test_garbage_is_rejected_by_the_deadline_and_never_raises_anything_else(name, seed, tmp_path):
    chunks = garbage(seed)
    peer = tcp_peer(chunks) if name in TCP_DRIVERS else serial_peer(tmp_path, chunks, period=0.02)
    with peer as endpoint:
        driver = build(name, endpoint if name in TCP_DRIVERS else endpoint.link)
        driver.close()  # before open: harmless
        driver.open()
        try:
            for _ in range(3):
                got, late = timed_read(driver)
                assert late < SLACK_S, f"read returned {late:.1f} s past its deadline"
                assert_contract_readings(got)
                assert not (isinstance(got, list) and got), f"garbage decoded into {got}"
        finally:
            driver.close()
            driver.close()


@pytest.mark.parametrize("name", DRIVERS)
def test_a_silent_peer_does_not_hold_the_runner(name, tmp_path):
    peer = tcp_peer(None) if name in TCP_DRIVERS else serial_peer(tmp_path, [b""], period=3600)
    with peer as endpoint:
        driver = build(name, endpoint if name in TCP_DRIVERS else endpoint.link)
        driver.open()
        try:
            got, late = timed_read(driver)
            assert late < SLACK_S, f"read returned {late:.1f} s past its deadline"
            assert got == [] or isinstance(got, DriverError), got
        finally:
            driver.close()


@pytest.mark.parametrize("name", sorted(set(DRIVERS) - TCP_DRIVERS))
def test_a_port_unplugged_while_open_is_device_unavailable(name, tmp_path):
    with serial_peer(tmp_path, [b""], period=3600) as pty:
        driver = build(name, pty.link)
        driver.open()
        try:
            pty.unplug()
            outcomes = [timed_read(driver) for _ in range(3)]
        finally:
            driver.close()
    assert all(late < SLACK_S for _, late in outcomes)
    assert any(isinstance(got, DeviceUnavailable) for got, _ in outcomes), outcomes
