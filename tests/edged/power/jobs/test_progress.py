"""edged.power.jobs.progress: the progress lines of our job scripts, rsync, wget and restic, lines
that carry none, and fuzzing (never raises, always None or 0..100, linear time)."""

from __future__ import annotations

import json
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edged.power.jobs.progress import parse_progress


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # our convention
        ("progress: 42", 42.0),
        ("PROGRESS 42.5", 42.5),
        ("  Progress=7 %  ", 7.0),
        ("progress:100", 100.0),
        ("progress: 250", 100.0),  # clamped
        # rsync --info=progress2, as redrawn with \r (the reader splits lines there)
        ("  1,234,567  45%  1.23MB/s    0:00:12 (xfr#3, to-chk=0/10)", 45.0),
        ("     32,768   0%    0.00kB/s    0:00:00", 0.0),
        # wget
        ("openclinic.iso  45%[=====>          ]  1.20M   300KB/s    eta 12s", 45.0),
        ("12.5% done", 12.5),
        # restic backup --json
        ('{"message_type":"status","seconds_elapsed":3,"percent_done":0.42,"total_files":9}', 42.0),
        ('{"message_type":"status","percent_done":1}', 100.0),
        ('{"message_type":"status","percent_done":1.7}', 100.0),
        ('{"message_type":"status","percent_done":-0.1}', 0.0),
    ],
)
def test_progress_is_read(line, expected):
    assert parse_progress(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "",
        "42",  # pv -n: a bare number is not a percentage
        "42.5",
        "progress: 3 of 10 files",  # ours is the keyword and one number, nothing else
        "progress: -5",
        "in progress",
        "1,234%",  # glued to a longer number
        "abc45%",
        "disk 45%full",
        '{"message_type":"summary","percent_done":1}',
        '{"message_type":"status","percent_done":"0.5"}',
        '{"message_type":"status","percent_done":true}',
        '{"message_type":"status","percent_done":NaN}',
        '{"message_type":"status","percent_done":1e400}',
        '{"message_type":"status","percent_done":' + "9" * 5000 + "}",  # beyond int() digits limit
        '{"message_type":"status","percent_done":0.5',  # cut by a power cut
        '{"a":' + "[" * 100_000 + '"percent_done"',  # nested deep enough for RecursionError
        '["percent_done", 0.5]',
    ],
)
def test_lines_without_progress_give_none(line):
    assert parse_progress(line) is None


def test_restic_fraction_becomes_a_percentage():
    line = json.dumps({"message_type": "status", "percent_done": 0.123, "files_done": 4})
    assert parse_progress(line) == pytest.approx(12.3)


def check(value: float | None) -> None:
    assert value is None or (isinstance(value, float) and 0.0 <= value <= 100.0)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_random_text_never_raises(line):
    check(parse_progress(line))


NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.text(max_size=8)
)


@settings(max_examples=200, deadline=None)
@given(
    keyword=st.sampled_from(["progress", "PROGRESS", "Progress"]),
    sep=st.sampled_from([":", "=", " ", ": ", ""]),
    number=NUMBER,
    suffix=st.sampled_from(["", "%", " %", "  "]),
    noise=st.text(max_size=20),
)
def test_near_miss_lines_never_raise(keyword, sep, number, suffix, noise):
    restic = json.dumps({"message_type": "status", "percent_done": number})
    for line in (f"{keyword}{sep}{number}{suffix}", f"{noise}{number}%{noise}", restic):
        check(parse_progress(line))


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=100, allow_nan=False))
def test_our_lines_round_trip(value):
    assert parse_progress(f"progress: {value:.3f}") == pytest.approx(value, abs=1e-3)
    fraction = json.dumps({"message_type": "status", "percent_done": value / 100})
    assert math.isclose(parse_progress(fraction), value, abs_tol=1e-9)


@pytest.mark.parametrize(
    "line",
    [
        "progress 1" + " " * 200_000 + "x",  # blanks a backtracking regex would chew on
        "5." * 200_000 + "%",
        " 5" * 200_000,
    ],
)
def test_long_lines_take_linear_time(line):
    began = time.perf_counter()
    check(parse_progress(line))
    # linear: milliseconds; a backtracking regex on 200,000 characters takes minutes, so a bound
    # a loaded machine keeps still tells them apart
    assert time.perf_counter() - began < 5.0
