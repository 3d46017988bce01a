"""Portable equipment: USB presence on a fake sysfs tree, LAN presence against a real listener,
reports through a real HTTP POST, and the usage tracker's figures computed by hand."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from maintenance.health.glasses import USB_DIR, Equipment, EquipmentSpec, scan_usb
from maintenance.health.report_server import Report, ReportServer, parse_report
from maintenance.health.usage import Observation, UsageTracker
from maintenance.health.usb_id import UsbId
from tests.maintenance.health.test_peers import TcpPeer, write_tree

H = 3600.0


def usb_tree(root, devices: dict[str, tuple[str, str]]):
    files = {}
    for name, (vendor, product) in devices.items():
        files[f"{USB_DIR}/{name}/idVendor"] = vendor + "\n"
        files[f"{USB_DIR}/{name}/idProduct"] = product + "\n"
    files[f"{USB_DIR}/1-1.3:1.0/bInterfaceClass"] = "0e\n"  # an interface: no idVendor
    return write_tree(root, files)


def test_usb_scan_finds_configured_ids_only(tmp_path):
    usb_tree(
        tmp_path,
        {"usb1": ("1d6b", "0002"), "1-1": ("2109", "3431"), "1-1.3": ("abcd", "1234")},
    )
    assert scan_usb(tmp_path, (UsbId.parse("ABCD:1234"),)) == ["1-1.3"]
    assert scan_usb(tmp_path, (UsbId.parse("abcd:*"),)) == ["1-1.3"]
    assert scan_usb(tmp_path, (UsbId.parse("abcd:9999"),)) == []
    assert scan_usb(tmp_path / "absent", (UsbId.parse("abcd:1234"),)) == []


def test_usb_scan_skips_a_device_unplugged_mid_scan(tmp_path):
    write_tree(tmp_path, {f"{USB_DIR}/1-2/idVendor": "abcd\n"})  # idProduct already gone
    usb_tree(tmp_path, {"1-1.3": ("abcd", "1234")})
    assert scan_usb(tmp_path, (UsbId.parse("abcd:*"),)) == ["1-1.3"]


@pytest.mark.parametrize("text", ["abcd", "abcd:12", "abc:1234", "wxyz:1234", ":"])
def test_bad_usb_ids_are_rejected(text):
    with pytest.raises(ValueError):
        UsbId.parse(text)


# --- the report endpoint, over real HTTP ------------------------------------------------------


@pytest.fixture
def server():
    s = ReportServer(items={"glasses-1"}, clock=lambda: 5000.0, poll_interval=0.01)
    s.start()
    yield s
    s.stop()


def post(port: int, body: bytes, path: str = "/report", token: str | None = None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_a_posted_report_is_kept_with_the_receipt_time(server):
    body = json.dumps({"item": "glasses-1", "battery": 80, "charging": True}).encode()
    assert post(server.port, body) == (200, {"ok": True})
    assert server.latest("glasses-1") == Report("glasses-1", 5000.0, 80.0, True)
    assert post(server.port, b'{"item": "glasses-1"}')[0] == 200
    assert server.latest("glasses-1") == Report("glasses-1", 5000.0, None, None)


@pytest.mark.parametrize(
    ("body", "path", "status", "error"),
    [
        (b"{not json", "/report", 400, "not JSON"),
        (b"[1]", "/report", 400, "expected a JSON object"),
        (b'{"item": "Glasses 1"}', "/report", 400, "item: expected"),
        (b'{"item": "glasses-1", "battery": 101}', "/report", 400, "battery: expected"),
        (b'{"item": "glasses-1", "battery": true}', "/report", 400, "battery: expected"),
        (b'{"item": "glasses-1", "charging": "yes"}', "/report", 400, "charging: expected"),
        (b'{"item": "glasses-1", "colour": "red"}', "/report", 400, "unknown keys ['colour']"),
        (b'{"item": "glasses-9"}', "/report", 404, "unknown item 'glasses-9'"),
        (b'{"item": "glasses-1"}', "/other", 404, "POST /report"),
        (b" " * 5000, "/report", 413, "body over 4096 bytes"),
    ],
)
def test_bad_reports_are_refused_and_nothing_is_stored(server, body, path, status, error):
    code, answer = post(server.port, body, path)
    assert code == status and answer["error"].startswith(error)
    assert server.latest("glasses-1") is None


def test_a_token_is_required_when_configured():
    s = ReportServer(token="s3cret", clock=lambda: 1.0, poll_interval=0.01)
    s.start()
    try:
        body = b'{"item": "glasses-2", "battery": 55.5}'
        assert post(s.port, body)[0] == 401
        assert post(s.port, body, token="wrong")[0] == 401
        assert post(s.port, body, token="s3cret")[0] == 200
    finally:
        s.stop()
    assert s.latest("glasses-2") == Report("glasses-2", 1.0, 55.5, None)


def test_parse_report_never_accepts_non_dict_json():
    for body in (b"null", b"3", b'"glasses-1"', b"\xff\xfe"):
        with pytest.raises(ValueError):
            parse_report(body, 0.0)


# --- the tracker: figures computed by hand -----------------------------------------------------


def test_sessions_and_hours_of_use_by_hand():
    t = UsageTracker(max_gap=2 * H)
    # 08:00 seen in use; 09:30 docked charging; 10:00 still; 11:00 in use; 12:00 gone;
    # 13:00 back on charge.
    t.observe(Observation(8 * H, seen=True, charging=False, battery=90))
    t.observe(Observation(9.5 * H, seen=True, charging=True))
    t.observe(Observation(10 * H, seen=True, charging=True))
    t.observe(Observation(11 * H, seen=True, charging=None))  # unknown: in use
    t.observe(Observation(12 * H, seen=False))
    t.observe(Observation(13 * H, seen=True, charging=True, battery=20))
    figures = t.figures(now=14 * H)
    # use: 08:00-09:30 (1.5 h) + 11:00-12:00 (1 h); charging and unseen time do not count
    assert figures == {
        "last_seen": 13 * H,
        "days_unseen": round(1 / 24, 4),
        "charge_sessions": 2,
        "hours_of_use": 2.5,
        "battery_last": 20,
    }


def test_gaps_are_capped_and_the_open_interval_counts():
    t = UsageTracker(max_gap=900)
    t.observe(Observation(0, seen=True, charging=False))
    t.observe(Observation(7 * 86400, seen=True, charging=False))  # daemon off for a week
    assert t.figures(now=7 * 86400 + 600)["hours_of_use"] == round((900 + 600) / H, 4)
    assert t.figures(now=7 * 86400 + 5000)["hours_of_use"] == round((900 + 900) / H, 4)


def test_first_observation_on_charge_is_one_session_and_clock_steps_back_add_nothing():
    t = UsageTracker()
    t.observe(Observation(1000, seen=True, charging=True))
    t.observe(Observation(1060, seen=True, charging=True))
    t.observe(Observation(2000, seen=True, charging=False))
    t.observe(Observation(100, seen=True, charging=False))  # NTP stepped the clock back
    t.observe(Observation(200, seen=False))
    figures = t.figures(now=200)
    assert figures["charge_sessions"] == 1
    assert figures["hours_of_use"] == round(100 / H, 4)  # only 100 -> 200
    assert UsageTracker().figures(now=5)["days_unseen"] is None


def test_tracker_state_survives_a_round_trip():
    t = UsageTracker(max_gap=600)
    t.observe(Observation(0, seen=True, charging=True, battery=40))
    t.observe(Observation(300, seen=True, charging=False))
    restored = UsageTracker.from_dict(json.loads(json.dumps(t.to_dict())))
    assert restored == t
    restored.observe(Observation(500, seen=True, charging=True))
    assert restored.figures(600)["charge_sessions"] == 2
    assert restored.figures(600)["hours_of_use"] == round(200 / H, 4)


# --- one item end to end: USB dock, phone on the LAN, reports ------------------------------------


def test_equipment_seen_by_each_source_and_tracked(tmp_path):
    phone = TcpPeer()
    phone.start()
    spec = EquipmentSpec(
        "glasses-1",
        usb_ids=(UsbId.parse("abcd:1234"),),
        lan_host="127.0.0.1",
        lan_port=phone.port,
        report_ttl=600,
    )
    item = Equipment(spec)
    try:
        on_lan = item.collect(now=0.0, root=tmp_path)  # not docked, phone answering
        assert on_lan.ok and on_lan.values["seen_by"] == "lan"
        assert on_lan.values["lan_latency_ms"] > 0 and on_lan.values["usb_present"] is False
        assert on_lan.values["charging"] is None
    finally:
        phone.stop()
    usb_tree(tmp_path, {"1-1.3": ("abcd", "1234")})
    docked = item.collect(now=3600.0, root=tmp_path)
    assert docked.values["seen_by"] == "usb" and docked.values["lan_present"] is False
    assert docked.values["charging"] is True  # the dock charges
    report = Report("glasses-1", 3700.0, battery=35.0, charging=False)
    reported = item.collect(now=4000.0, report=report, root=tmp_path)
    assert reported.values["seen_by"] == "usb,report" and reported.values["charging"] is False
    assert reported.values["battery"] == 35.0 and reported.values["report_age_s"] == 300.0
    (tmp_path / USB_DIR / "1-1.3" / "idVendor").unlink()  # undocked, report now stale
    gone = item.collect(now=4500.0, report=report, root=tmp_path)
    assert not gone.ok and gone.detail == "not seen for 0.0 days"
    assert gone.values["battery"] is None and gone.values["battery_last"] == 35.0
    # use: 0 -> 900 s capped (lan, charging unknown) + 4000 -> 4500 (reported not charging)
    assert gone.values["hours_of_use"] == round((900 + 500) / H, 4)
    assert gone.values["charge_sessions"] == 1 and gone.values["last_seen"] == 4000.0


def test_an_item_never_seen_says_so(tmp_path):
    reading = Equipment(EquipmentSpec("glasses-2")).collect(now=10.0, root=tmp_path)
    assert not reading.ok and reading.detail == "never seen"
    assert reading.values["usb_present"] is None and reading.values["lan_present"] is None
    assert reading.values["days_unseen"] is None
