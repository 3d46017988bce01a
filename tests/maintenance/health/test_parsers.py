"""Properties of the health collectors' pure parts: parsers of external text never raise on junk,
and the traffic accumulator counts exactly the bytes that went through."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from maintenance.health.checks import Status, parse_is_active
from maintenance.health.pibox import decode_throttled, parse_throttled
from maintenance.health.report_server import ITEM_RE, parse_report
from maintenance.health.traffic import TrafficAccumulator, parse_net_dev

SETTINGS = settings(max_examples=200, deadline=None)


@SETTINGS
@given(st.text())
def test_text_parsers_never_raise(text):
    parse_net_dev(text)
    word = parse_throttled(text)
    assert word is None or word >= 0
    status, _ = parse_is_active(text, text)
    assert isinstance(status, Status)


@SETTINGS
@given(st.binary(max_size=200))
def test_report_parser_raises_only_value_error(body):
    try:
        report = parse_report(body, 0.0)
    except ValueError:
        return
    assert ITEM_RE.fullmatch(report.item)
    assert report.battery is None or 0 <= report.battery <= 100


@SETTINGS
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_decoded_flags_are_the_word(word):
    values = decode_throttled(word)
    bits = [values[k] for k in values if k.endswith(("_now", "_occurred"))]
    assert all(isinstance(b, bool) for b in bits)
    assert sum(bits) == bin(word & 0xF000F).count("1")


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=30),
    st.lists(st.integers(0, 10**9), min_size=1, max_size=5),
)
def test_accumulated_bytes_are_the_traffic_across_reboots(increments, reboots_at):
    """Each increment is real traffic; a reboot restarts the counters at zero, then the same
    increment is what the new counter shows. The month total must be their exact sum."""
    acc = TrafficAccumulator()
    ts, boot, rx, tx = 1_700_000_000.0, 0, 0, 0
    acc.update(ts, (rx, tx), str(boot))
    reboot_steps = {r % len(increments) for r in reboots_at}
    for i, (d_rx, d_tx) in enumerate(increments):
        if i in reboot_steps:
            boot, rx, tx = boot + 1, 0, 0
        rx, tx = rx + d_rx, tx + d_tx
        acc.update(ts + i + 1, (rx, tx), str(boot))
    figures = acc.figures(ts + len(increments))
    assert figures["rx_bytes_month"] == sum(d for d, _ in increments)
    assert figures["tx_bytes_month"] == sum(d for _, d in increments)
