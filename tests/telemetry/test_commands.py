"""The command wire format: what passes, what is refused and why, and that no input raises.

The signature is checked against `openssl dgst -hmac` (another implementation of HMAC-SHA256)
over the canonical text the docs describe, so the dashboard's side and ours agree by
construction, not because one function agrees with itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry import commands
from telemetry.commands import Command, Refusal

KEY = "site-key-0123456789abcdef"
NOW = 1_764_000_000.0
ALLOWED = commands.NAMES


def check(name: str, body: dict | bytes, key: str | None = KEY, allowed=ALLOWED):
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return commands.check(name, payload, NOW, allowed=allowed, key=key, max_ttl=86400)


def fresh(**extra) -> dict:
    return {"id": "c-1", "expires": int(NOW) + 600, "args": {"id": "x.y", "by": "Aïssata"}, **extra}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_the_signature_is_hmac_sha256_of_the_canonical_text_as_openssl_computes_it():
    body = fresh()
    text = '{"args":{"by":"A\\u00efssata","id":"x.y"},"expires":1764000600,"id":"c-1"}'
    assert commands.canonical(body).decode() == text
    out = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", KEY],
        input=text.encode(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert commands.sign(body, KEY) == out.strip().rsplit(" ", 1)[1]


def test_a_signed_allowed_fresh_command_passes_with_its_args():
    body = fresh()
    body["sig"] = commands.sign(body, KEY)
    assert check("alarm_ack", body) == Command("alarm_ack", "c-1", NOW + 600, body["args"])


def test_the_key_order_of_the_sent_json_does_not_matter():
    body = fresh()
    sig = commands.sign(body, KEY)
    reordered = b'{"sig":"%s","args":{"id":"x.y","by":"A\\u00efssata"},"id":"c-1","expires":%d}'
    assert isinstance(check("alarm_ack", reordered % (sig.encode(), NOW + 600)), Command)


@pytest.mark.parametrize(
    "name, body, key, allowed, error",
    [
        ("ping", fresh(), KEY, ALLOWED, "unsigned"),
        ("ping", fresh(sig="0" * 64), KEY, ALLOWED, "bad_signature"),
        ("ping", fresh(sig="ABC"), KEY, ALLOWED, "malformed"),
        ("reboot", fresh(), KEY, ALLOWED, "unknown"),
        ("backup_now", fresh(), None, ("ping",), "not_allowed"),
        ("ping", fresh(expires=NOW - 1), None, ALLOWED, "expired"),
        ("ping", fresh(expires=NOW), None, ALLOWED, "expired"),
        ("ping", fresh(expires=NOW + 2 * 86400), None, ALLOWED, "too_far"),
        ("ping", fresh(expires=True), None, ALLOWED, "malformed"),
        ("ping", fresh(expires=10**400), None, ALLOWED, "malformed"),
        ("ping", fresh(args=[1]), None, ALLOWED, "malformed"),
        ("ping", fresh(cmd="backup_now"), None, ALLOWED, "malformed"),
        ("ping", fresh(id=""), None, ALLOWED, "malformed"),
        ("ping", fresh(id="x" * 65), None, ALLOWED, "malformed"),
        ("ping", fresh(extra=1), None, ALLOWED, "malformed"),
    ],
)
def test_refusals_name_their_reason(name, body, key, allowed, error):
    verdict = check(name, body, key, allowed)
    assert isinstance(verdict, Refusal) and verdict.error == error, verdict


def test_the_id_is_echoed_when_it_can_be_read_and_never_otherwise():
    assert check("ping", fresh(expires="soon")).id == "c-1"
    assert check("ping", fresh(id=["c-1"])).id is None
    assert check("ping", b"\xff\xfe").id is None


def test_an_unknown_name_is_refused_before_the_signature_is_looked_at():
    assert check("format", fresh(sig="0" * 64)).error == "unknown"


def test_a_payload_over_the_limit_is_refused_unparsed():
    big = b'{"id":"a","expires":1,"args":{"x":"' + b"x" * commands.MAX_PAYLOAD + b'"}}'
    assert check("ping", big).error == "too_large"


@pytest.mark.parametrize("payload", [b"NaN", b'{"id":"a","expires":Infinity}', b"[" * 100000])
def test_what_python_parses_but_json_forbids_is_malformed(payload):
    verdict = check("ping", payload)
    assert isinstance(verdict, Refusal) and verdict.error in ("malformed", "too_large")


def test_result_payloads_are_compact_and_bilingual():
    ok = json.loads(commands.result_payload("c-1", True, {"pong": True}))
    assert ok == {"id": "c-1", "ok": True, "result": {"pong": True}}
    refused = json.loads(commands.result_payload("c-1", False, None, "expired", "3 s"))
    assert refused["error"] == "expired" and refused["message_en"].endswith("(3 s)")
    assert "expirée" in refused["message"]
    assert json.loads(commands.result_payload(None, True, float("nan")))["result"] is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.from_regex(commands.ID_PATTERN, fullmatch=True), json_values),
        "expires": st.one_of(st.floats(), st.integers(), json_values),
        "args": json_values,
        "sig": st.one_of(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)),
        "cmd": st.sampled_from(commands.NAMES),
    },
)


@settings(max_examples=500)
@given(name=st.text(max_size=40), payload=st.binary(max_size=300))
def test_no_bytes_make_check_raise(name, payload):
    verdict = check(name, payload)
    assert isinstance(verdict, Command | Refusal)


@settings(max_examples=500)
@given(name=st.sampled_from(commands.NAMES), body=bodies, key=st.sampled_from([None, KEY]))
def test_no_json_body_makes_check_raise_and_only_signed_ones_pass_a_keyed_site(name, body, key):
    try:
        payload = json.dumps(body).encode()
    except ValueError:
        return
    verdict = check(name, payload, key)
    if isinstance(verdict, Command):
        assert key is None or body.get("sig") == commands.sign(body, key)
        assert NOW < verdict.expires <= NOW + 86400
