"""Service checks against real peers on loopback: a web server and a TCP listener that go down
and come back, a server that never answers, and the real systemctl (or its absence)."""

from __future__ import annotations

import logging
import shutil

import pytest

from maintenance.health.checks import (
    CheckMonitor,
    CheckResult,
    CheckSpec,
    Kind,
    Status,
    check_http,
    check_systemd,
    check_tcp,
    parse_is_active,
    run_check,
)
from tests.maintenance.health.test_peers import HttpPeer, TcpPeer, wait_for
from tests.peers.broker import free_port


@pytest.fixture
def web():
    peer = HttpPeer()
    peer.start()
    yield peer
    peer.stop()


@pytest.fixture
def db():
    peer = TcpPeer()
    peer.start()
    yield peer
    peer.stop()


def test_http_check_fails_while_the_server_is_down_then_recovers(web):
    monitor = CheckMonitor(CheckSpec("openclinic", Kind.HTTP, url=web.url, timeout=2.0))
    up = monitor.run(now=1000.0)
    assert up.ok and up.values["status"] == "ok" and up.detail == "HTTP 200"
    assert 0 < up.values["latency_ms"] < 2000
    web.stop()
    down1, down2 = monitor.run(now=1060.0), monitor.run(now=1120.0)
    assert not down1.ok and down1.values["status"] == "failed"
    assert down1.values["latency_ms"] is None and "refused" in down1.detail
    assert down2.values["consecutive_failures"] == 2
    assert down2.values["last_success"] == 1000.0 and down2.values["since_success_s"] == 120.0
    web.start()
    back = monitor.run(now=1180.0)
    assert back.ok and back.values["consecutive_failures"] == 0
    assert back.values["last_success"] == 1180.0 and back.values["since_success_s"] == 0.0
    assert web.requests == 2


def test_tcp_check_fails_while_the_listener_is_down_then_recovers(db):
    monitor = CheckMonitor(CheckSpec("mariadb", Kind.TCP, host="127.0.0.1", port=db.port))
    assert monitor.run(now=0.0).ok
    db.stop()
    failed = monitor.run(now=10.0)
    assert not failed.ok and failed.detail == f"127.0.0.1:{db.port} refused"
    assert failed.values["consecutive_failures"] == 1
    db.start()
    back = monitor.run(now=20.0)
    assert back.ok and back.values["latency_ms"] > 0 and back.values["since_success_s"] == 0.0
    assert wait_for(lambda: db.accepted == 2)  # the kernel connects before the accept


def test_wrong_status_missing_text_and_server_errors_fail_with_the_reason(web):
    assert check_http(web.url, expect_text="OpenClinic").status is Status.OK
    missing = check_http(web.url, expect_text="Login")
    assert missing.status is Status.FAILED and missing.detail == "'Login' not in the page"
    web.status = 500
    error = check_http(web.url)
    assert error.status is Status.FAILED and error.detail == "HTTP 500, expected 200"
    assert error.latency_s is not None  # the server answered, so the latency is known
    web.status = 404
    assert check_http(web.url, expect_status=404).status is Status.OK


def test_redirects_are_followed_to_the_login_page(web):
    web.redirect_to = "/openclinic/login.jsp"
    result = check_http(f"http://127.0.0.1:{web.port}/openclinic/", expect_text="OpenClinic")
    assert result.status is Status.OK and web.requests == 2


def test_a_server_that_never_answers_fails_after_the_timeout():
    mute = TcpPeer(answer=False)
    mute.start()
    try:
        result = check_http(f"http://127.0.0.1:{mute.port}/", timeout=0.3)
    finally:
        mute.stop()
    assert result.status is Status.FAILED and "timed out" in result.detail


def test_a_non_http_peer_fails_cleanly(db):
    result = check_http(f"http://127.0.0.1:{db.port}/")  # accepts then closes without a word
    assert result.status is Status.FAILED and result.latency_s is None


def test_host_reachability_counts_a_refusal_as_up():
    port = free_port()  # nothing listens: the loopback host answers with a refusal
    up = run_check(CheckSpec("pibox-2", Kind.HOST, host="127.0.0.1", port=port))
    assert up.status is Status.OK and up.detail == "refused: host up"
    assert check_tcp("127.0.0.1", port).status is Status.FAILED
    unresolvable = check_tcp("no-such-host.invalid", 22, timeout=2.0)
    assert unresolvable.status is Status.FAILED and unresolvable.latency_s is None


@pytest.mark.parametrize(
    ("stdout", "stderr", "status", "detail"),
    [
        ("active\n", "", Status.OK, "active"),
        ("reloading\n", "", Status.OK, "reloading"),
        ("inactive\n", "", Status.FAILED, "inactive"),
        ("failed\n", "", Status.FAILED, "failed"),
        ("activating\n", "", Status.FAILED, "activating"),
        ("unknown\n", "", Status.UNKNOWN, "unknown"),
        (
            "",
            "System has not been booted with systemd as init system (PID 1). Can't operate.\n"
            "Failed to connect to bus: Host is down\n",
            Status.UNKNOWN,
            "System has not been booted with systemd as init system (PID 1). Can't operate.",
        ),
        ("", "", Status.UNKNOWN, "no answer"),
    ],
)
def test_systemctl_answers_are_classified(stdout, stderr, status, detail):
    assert parse_is_active(stdout, stderr) == (status, detail)


def test_systemd_check_runs_the_real_systemctl_or_says_unknown():
    result = check_systemd("edged-no-such-unit-4f2a.service", timeout=10.0)
    if shutil.which("systemctl") is None:
        assert result.status is Status.UNKNOWN and "not found" in result.detail
    else:  # a unit that does not exist is never active; without systemd running it is unknown
        assert result.status in (Status.FAILED, Status.UNKNOWN)
        assert result.latency_s is not None
        assert result.detail.startswith("edged-no-such-unit-4f2a.service: ")
    absent = check_systemd("mariadb.service", systemctl="/nonexistent/bin/systemctl")
    assert absent == CheckResult(Status.UNKNOWN, None, "'/nonexistent/bin/systemctl' not found")


def test_unknown_neither_counts_as_failure_nor_as_success():
    results = iter(
        [
            CheckResult(Status.FAILED, None, "x"),
            CheckResult(Status.UNKNOWN, None, "?"),
            CheckResult(Status.FAILED, None, "x"),
        ]
    )
    monitor = CheckMonitor(CheckSpec("unit", Kind.SYSTEMD, unit="u"), probe=lambda _: next(results))
    counts = [monitor.run(now=t).values["consecutive_failures"] for t in (1.0, 2.0, 3.0)]
    assert counts == [1, 1, 2]
    assert monitor.last_success is None


def test_each_transition_is_logged_once(web, caplog):
    monitor = CheckMonitor(CheckSpec("openclinic", Kind.HTTP, url=web.url, timeout=2.0))
    with caplog.at_level(logging.INFO, logger="maintenance.health.checks"):
        monitor.run(now=0.0)
        web.stop()
        monitor.run(now=1.0)
        monitor.run(now=2.0)
        web.start()
        monitor.run(now=3.0)
        monitor.run(now=4.0)
    messages = [r.getMessage().split(":")[0] for r in caplog.records]
    assert messages == ["check openclinic failed", "check openclinic recovered"]
