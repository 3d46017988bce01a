"""telemetry.compact: the compact record form byte for byte, its table held to the catalogue."""

from __future__ import annotations

import gzip
import json

from edged.metrics import CATALOGUE, resolution
from edged.readings import Record
from telemetry import compact, topics

RECORD = Record(
    "mppt",
    1764000000,
    True,
    60,
    {
        "battery_voltage": 12.5312,
        "battery_current": -0.4567,
        "pv_power": 123.6,
        "battery_soc": 87.25,
        "charger_state": "float",
        "yield_total": 1234.56,
        "cell_voltage_min": 3.2871,
    },
)


def test_a_live_record_byte_for_byte_as_docs_mqtt_shows_it():
    payload = topics.telemetry_payload(RECORD, "compact")
    assert payload == (
        b'{"v":1,"t":1764000000,"c":1,"n":60,'
        b'"m":{"0":1253,"1":-46,"d":124,"3":872,"l":"float","j":123456,"9":3287}}'
    )
    assert len(payload) < len(topics.telemetry_payload(RECORD)) / 2


def test_json_stays_the_default_form():
    assert json.loads(topics.telemetry_payload(RECORD))["metrics"] == RECORD.metrics


def test_history_is_compact_and_gzip_when_asked():
    older = Record("mppt", 1763999940, False, 60, {"battery_voltage": 12.5})
    payload = topics.history_payload([older, RECORD], True, "compact")
    assert payload[:2] == topics.GZIP_MAGIC
    body = json.loads(gzip.decompress(payload))
    assert body["v"] == 1
    assert [(s["t"], s["c"]) for s in body["s"]] == [(1763999940, 0), (1764000000, 1)]
    assert body["s"][0]["m"] == {"0": 1250}
    assert "n" not in body["s"][0]  # as in the JSON form, history records carry no count


def test_unknown_names_keep_their_name_and_odd_values_do_not_raise():
    odd = Record(
        "x",
        1,
        True,
        1,
        {
            "not_in_table": 1.23456,
            "battery_voltage": float("nan"),
            "battery_current": 1e308,
            "pv_voltage": 10**400,
        },
    )
    body = json.loads(topics.telemetry_payload(odd, "compact"))
    assert body["m"] == {"not_in_table": 1.23456, "0": None, "1": None, "b": None}


def test_every_catalogue_metric_has_a_code_at_its_catalogue_resolution():
    """The table is append-only: a metric added to the catalogue must be appended to KEYS_V1;
    a resolution changed in the catalogue after a code was given needs a new version."""
    assert set(CATALOGUE) <= set(compact.CODES), set(CATALOGUE) - set(compact.CODES)
    for name, scale in compact.KEYS_V1:
        assert scale == resolution(name), name


def test_codes_are_unique_short_and_never_a_metric_name():
    codes = [code for code, _ in compact.CODES.values()]
    assert len(set(codes)) == len(codes) == len(compact.KEYS_V1)
    assert all(len(code) <= 2 for code in codes)
    assert not set(codes) & set(CATALOGUE)
    assert codes[:3] == ["0", "1", "2"] and codes[36] == "10"


def test_docs_mqtt_lists_the_table_exactly():
    """docs/mqtt.md is the contract a dashboard decodes by: its table is the code's table."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "mqtt.md").read_text()
    section = text.split("## Compact records", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([0-9a-z]+)` \| `([a-z0-9_]+)` \| [^|]+ \| ([^|]+) \|$", section, re.M)
    documented = [(c, n, None if s.strip() == "text, as is" else float(s)) for c, n, s in rows]
    assert documented == [(compact.code(i), n, s) for i, (n, s) in enumerate(compact.KEYS_V1)]


def test_the_encoder_never_raises_whatever_a_record_holds():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    values = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
    names = st.sampled_from([name for name, _ in compact.KEYS_V1]) | st.text(max_size=5)

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(names, values, max_size=8))
    def encode(metrics):
        record = Record("x", 1, True, 1, metrics)
        json.loads(topics.telemetry_payload(record, "compact"))
        json.loads(gzip.decompress(topics.history_payload([record], True, "compact")))

    encode()
