"""Fuzzing the command path of a real daemon: hypothesis publishes garbage, near-commands and
unsigned or badly signed commands on `P/cmd/...` of a running `edged run` (signing on, every
command allowed). The daemon must survive, answer a real command afterwards, and its database
must not change: no alarm acknowledged, no visit, no job run, no command id remembered.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry import commands
from tests.peers.commander import command, signed
from tests.peers.remote_site import ALL, KEY, Site
from tests.peers.replay import wait_until

STATE = ("alarms", "maintenance_log", "job_runs", "commands")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    site = Site(
        tmp_path_factory.mktemp("fuzz"), f"[remote]\nenabled = true\nkey = {KEY!r}\nallow = {ALL}\n"
    )
    tech = site.commander()
    before = snapshot(site)
    yield site, tech, before, []
    tech.stop()
    site.close()


def snapshot(site: Site) -> dict[str, list[tuple]]:
    return {table: site.rows(f"SELECT * FROM {table} ORDER BY rowid") for table in STATE}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=25,
)
args = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.just("pibox_disk_full.pibox"), st.integers(), json_values),
            "by": json_values,
            "job": st.one_of(st.just("backup"), json_values),
            "month": st.one_of(st.just("2026-10"), json_values),
            "item": st.one_of(st.just("batterie"), json_values),
            "action": json_values,
            "device": st.one_of(st.just("mppt"), json_values),
            "from": json_values,
            "to": json_values,
        },
    ),
    json_values,
)
near = st.builds(
    lambda body, extra, sig: {**body, **extra, **({"sig": sig} if sig else {})},
    st.builds(command, args),
    st.dictionaries(st.sampled_from(["id", "expires", "args", "cmd", "x"]), json_values),
    st.one_of(st.none(), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)),
)
wrong_key = st.builds(lambda body: signed(body, "not-the-site-key-0123"), st.builds(command, args))
# What MQTT allows in a topic (mosquitto drops a client sending control characters or
# noncharacters, as the spec lets it): anything else a broker could deliver to the site.
topic_names = st.one_of(
    st.sampled_from(commands.NAMES),
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Cn"), blacklist_characters="/+#"),
        min_size=1,
        max_size=30,
    ),
)


def encoded(body) -> bytes:
    return json.dumps(body, allow_nan=True).encode()


payloads = st.one_of(
    st.binary(max_size=400),
    json_values.map(encoded),
    near.map(encoded),
    wrong_key.map(encoded),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=topic_names, payload=payloads)
def test_fuzzed_commands_never_crash_the_daemon_nor_change_its_database(fuzzed, name, payload):
    site, tech, _before, sent = fuzzed
    tech.publish(name, payload)
    sent.append(name)


def test_after_the_fuzz_the_daemon_answers_and_nothing_changed(fuzzed):
    site, tech, before, sent = fuzzed
    assert len(sent) >= 100

    def taken() -> bool:
        stats = site.live().get("remote") or {}
        return stats.get("received", 0) + stats.get("dropped", 0) >= len(sent)

    wait_until(taken, 60, what="every fuzzed message taken")
    assert site.daemon.proc.poll() is None
    assert tech.run("ping")["ok"] is True
    after = snapshot(site)
    assert after["commands"] == before["commands"] + after["commands"][len(before["commands"]) :]
    assert len(after["commands"]) == len(before["commands"]) + 1  # the ping, nothing else
    assert {t: after[t] for t in STATE if t != "commands"} == {
        t: before[t] for t in STATE if t != "commands"
    }
    wait_until(lambda: site.live()["remote"]["ok"], 15, what="the ping counted")
    stats = site.live()["remote"]
    assert stats["ok"] == 1 and stats["refused"] + stats["dropped"] == len(sent), stats
