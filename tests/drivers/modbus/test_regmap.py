"""Register map files: every shipped map loads; bad maps name the file and the key path."""

from __future__ import annotations

import pytest

from drivers.modbus.mapfile import builtin_maps, load_map
from drivers.modbus.plan import plan
from drivers.modbus.regmap import MapError
from edged.metrics import CATALOGUE

GOOD_REG = '[[register]]\naddress = 10\ntype = "uint16"\nmetric = "pv_power"\n'
GOOD_INFO = '[[info]]\nname = "serial"\naddress = 800\ntype = "string"\ncount = 6\n'


def test_every_shipped_map_loads_with_catalogue_metrics():
    paths = builtin_maps()
    assert {p.stem for p in paths} >= {
        "victron_gx_system",
        "victron_gx_solarcharger",
        "victron_gx_battery",
        "epever_tracer",
    }
    for path in paths:
        rmap = load_map(path)
        assert rmap.registers, path
        for reg in rmap.registers:
            for name in (reg.metric, reg.text_metric, *(f.metric or f.alarm for f in reg.fields)):
                assert name is None or name in CATALOGUE


def write(tmp_path, text: str):
    path = tmp_path / "site_map.toml"
    path.write_text('[device]\nname = "t"\n' + text)
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            GOOD_REG.replace('"uint16"', '"uint24"'),
            "site_map.toml: register[0].type: expected one of",
        ),
        (
            GOOD_REG.replace("address = 10\n", ""),
            "site_map.toml: register[0].address: required key",
        ),
        (GOOD_REG.replace("address = 10", 'address = "10"'), "register[0].address: expected int"),
        (
            GOOD_REG.replace("pv_power", "pv_powr"),
            "register[0].metric: expected a catalogue metric",
        ),
        (GOOD_REG + "scale = 0\n", "register[0].scale: expected a non-zero"),
        (GOOD_REG + 'unit = "furlong"\n', "register[0].unit: cannot convert 'furlong'"),
        (
            GOOD_REG + 'enum = "nope"\ntext_metric = "charger_state"\n',
            "register[0].enum: expected one of",
        ),
        (GOOD_REG + "colour = 1\n", "register[0].colour: unknown key"),
        (
            GOOD_REG
            + 'field = [{ lsb = 1, width = 2, metric = "alarm_on", alarm = "battery_alarms" }]\n',
            "register[0].field[0]: expected exactly one of metric or alarm",
        ),
        (
            GOOD_REG + GOOD_REG.replace("10", "9").replace("uint16", "uint32"),
            "site_map.toml: register[1].address: register 0x000a (fc 3) overlaps register[0]",
        ),
        (
            GOOD_REG + 'field = [{ lsb = 1, metric = "alarm_on", when = [12, 2] }]\n',
            "register[0].field[0].when: expected a non-zero mask and a value inside it",
        ),
        (
            GOOD_REG + 'field = [{ lsb = 1, metric = "alarm_on", when = [0, 0] }]\n',
            "register[0].field[0].when: expected a non-zero mask",
        ),
        (
            GOOD_REG + 'field = [{ lsb = 1, metric = "alarm_on", when = "D1" }]\n',
            "register[0].field[0].when: expected [mask, value]",
        ),
        (
            GOOD_REG + 'field = [{ lsb = 1, metric = "alarm_on", when = [1, 1, 1] }]\n',
            "register[0].field[0].when: expected [mask, value]",
        ),
    ],
)
def test_bad_map_names_file_and_key(tmp_path, body, expected):
    with pytest.raises(MapError) as err:
        load_map(write(tmp_path, body))
    assert expected in str(err.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (GOOD_INFO.replace('"string"', '"uint16"'), "info[0].type: expected one of string"),
        (GOOD_INFO.replace("count = 6\n", ""), "info[0].count: required key is missing"),
        (GOOD_INFO.replace("count = 6", "count = 0"), "info[0].count: expected 1..125, got 0"),
        (
            GOOD_INFO.replace('"serial"', '"colour"'),
            "info[0].name: expected one of product, serial, firmware, got 'colour'",
        ),
        (GOOD_INFO + "metric = 1\n", "info[0].metric: unknown key"),
        (GOOD_INFO.replace("800", "-1"), "info[0].address: expected 0..65535, got -1"),
        (
            GOOD_INFO + GOOD_INFO.replace("800", "900"),
            "info[1].name: 'serial' is already read by an earlier [[info]] row",
        ),
        (
            GOOD_INFO + GOOD_INFO.replace("800", "805").replace('"serial"', '"firmware"'),
            "info[1].address: register 0x0325 (fc 3) overlaps info[0]",
        ),
        ("info = 3\n", "site_map.toml: info: expected list, got int 3"),
        ("info = [1]\n", "site_map.toml: info[0]: expected a table, got 1"),
    ],
)
def test_bad_info_section_names_file_and_key(tmp_path, body, expected):
    path = tmp_path / "site_map.toml"
    if body.startswith("[["):  # array tables last, or TOML nests what follows under them
        path.write_text('[device]\nname = "t"\n' + GOOD_REG + body)
    else:  # a top-level key before the first table
        path.write_text(body + '[device]\nname = "t"\n' + GOOD_REG)
    with pytest.raises(MapError) as err:
        load_map(path)
    assert expected in str(err.value)
    assert len(str(err.value).splitlines()) == 1  # only that problem: the rest of the map is fine


def test_info_rows_load_and_plan_like_registers(tmp_path):
    rmap = load_map(write(tmp_path, GOOD_REG + GOOD_INFO))
    (row,) = rmap.info
    assert (row.key, row.name, row.address, row.function, row.count) == (
        "info[0]",
        "serial",
        800,
        3,
        6,
    )
    assert [(b.function, b.address, b.count) for b in plan(rmap, rows=rmap.info)] == [(3, 800, 6)]
    assert [b.address for b in plan(rmap)] == [10]  # polls never read identity
    system = load_map(next(p for p in builtin_maps() if p.stem == "victron_gx_system"))
    assert [(r.name, r.address, r.count) for r in system.info] == [("serial", 800, 6)]


def test_missing_device_table_and_unreadable_file(tmp_path):
    path = tmp_path / "bare.toml"
    path.write_text(GOOD_REG)
    with pytest.raises(MapError, match="bare.toml: device: required key is missing"):
        load_map(path)
    path.write_text("[device\n")
    with pytest.raises(MapError, match="bare.toml: cannot read map"):
        load_map(path)


def test_every_problem_is_listed(tmp_path):
    body = GOOD_REG.replace('"uint16"', '"u8"') + GOOD_REG.replace("pv_power", "x")
    with pytest.raises(MapError) as err:
        load_map(write(tmp_path, body))
    assert len(str(err.value).splitlines()) == 2


def map_of(tmp_path, device: str, regs: list[tuple[int, str, int]]):
    text = f'[device]\nname = "p"\n{device}\n' + "".join(
        f'[[register]]\naddress = {a}\ntype = "{t}"\nfunction = {fc}\nmetric = "pv_power"\n'
        for a, t, fc in regs
    )
    path = tmp_path / "p.toml"
    path.write_text(text)
    return load_map(path)


def test_plan_joins_contiguous_and_small_gaps_within_limits(tmp_path):
    regs = [
        (0, "uint16", 3),
        (1, "uint32", 3),
        (5, "uint16", 3),
        (20, "uint16", 3),
        (2, "uint16", 4),
    ]
    tight = map_of(tmp_path, "max_gap = 0", regs)
    assert [(b.function, b.address, b.count) for b in plan(tight)] == [
        (3, 0, 3),
        (3, 5, 1),
        (3, 20, 1),
        (4, 2, 1),
    ]
    loose = map_of(tmp_path, "max_gap = 2", regs)
    assert [(b.function, b.address, b.count) for b in plan(loose)] == [
        (3, 0, 6),
        (3, 20, 1),
        (4, 2, 1),
    ]
    capped = map_of(tmp_path, "max_gap = 20\nmax_registers = 4", regs)
    blocks = plan(capped)
    assert [(b.address, b.count) for b in blocks if b.function == 3] == [(0, 3), (5, 1), (20, 1)]
    assert all(b.count <= 4 for b in blocks)


def test_plan_never_splits_a_32_bit_register(tmp_path):
    rmap = map_of(
        tmp_path, "max_registers = 3", [(0, "uint16", 3), (1, "uint16", 3), (2, "int32", 3)]
    )
    assert [(b.address, b.count) for b in plan(rmap)] == [(0, 2), (2, 2)]


def test_shipped_maps_plan_into_few_requests():
    counts = {load_map(p).name: len(plan(load_map(p))) for p in builtin_maps()}
    assert counts["epever-tracer"] == 3
    # + one request for the 32-bit PV power register that only newer GX firmware serves
    assert counts["victron-gx-solarcharger"] == 3


def test_a_row_marked_alone_gets_a_request_of_its_own():
    rmap = load_map(next(p for p in builtin_maps() if p.name == "victron_gx_battery.toml"))
    blocks = plan(rmap)
    alone = [b for b in blocks if any(getattr(r, "alone", False) for r in b.registers)]
    assert sorted((b.address, b.count) for b in alone) == [(256, 2), (258, 1)]
    assert all(len(b.registers) == 1 for b in alone)
