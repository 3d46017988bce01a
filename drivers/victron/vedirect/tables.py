"""VE.Direct code tables as data: CS states, ERR codes, OR/AR bits, MPPT and MODE, PID names.

Follows the VE.Direct protocol's code tables. Names are the contract's metric values (snake_case).
Both the decoder (`fields`) and the emulator read these tables; only real captures can prove them.
"""

from __future__ import annotations

CS_STATES: dict[int, str] = {
    0: "off",
    1: "low_power",
    2: "fault",
    3: "bulk",
    4: "absorption",
    5: "float",
    6: "storage",
    7: "equalize",
    8: "passthru",  # HEX 0x0201 only [lib]
    9: "inverting",
    10: "assisting",  # HEX 0x0201 only [lib]
    11: "power_supply",
    244: "sustain",  # HEX 0x0201 only [lib]
    245: "starting_up",
    246: "repeated_absorption",
    247: "auto_equalize",
    248: "battery_safe",
    252: "external_control",
}

ERRORS: dict[int, str] = {
    0: "none",
    1: "battery_temperature_too_high",  # [lib]
    2: "battery_voltage_too_high",
    3: "remote_sensor_failure",  # 3..8: remote temperature/voltage sensor failures [lib]
    4: "remote_sensor_failure",
    5: "remote_sensor_failure",
    6: "remote_sensor_failure",
    7: "remote_sensor_failure",
    8: "remote_sensor_failure",
    17: "charger_temperature_too_high",
    18: "charger_over_current",
    19: "charger_current_reversed",
    20: "bulk_time_limit_exceeded",
    21: "current_sensor_issue",
    26: "terminals_overheated",
    28: "converter_issue",
    33: "input_voltage_too_high",
    34: "input_current_too_high",
    38: "input_shutdown_battery_voltage",
    39: "input_shutdown_current_flow",
    65: "communication_lost",
    66: "synchronised_charging_config_issue",
    67: "bms_connection_lost",
    68: "network_misconfigured",
    114: "cpu_temperature_too_high",  # [lib]
    116: "calibration_data_lost",
    117: "incompatible_firmware",
    119: "user_settings_invalid",
}

OFF_REASONS: dict[int, str] = {
    0x0001: "no_input_power",
    0x0002: "switched_off_power_switch",
    0x0004: "switched_off_device_mode",
    0x0008: "remote_input",
    0x0010: "protection_active",
    0x0020: "paygo",
    0x0040: "bms",
    0x0080: "engine_shutdown",
    0x0100: "analysing_input_voltage",
    0x0200: "low_temperature",  # BLE-era enum [lib]
    0x0400: "low_panel_power",  # [lib]
    0x0800: "low_battery_power",  # [lib]
    0x8000: "active_alarm",  # [lib]
}

ALARM_REASONS: dict[int, str] = {
    1: "low_voltage",
    2: "high_voltage",
    4: "low_soc",
    8: "low_starter_voltage",
    16: "high_starter_voltage",
    32: "low_temperature",
    64: "high_temperature",
    128: "mid_voltage",
    256: "overload",
    512: "dc_ripple",
    1024: "low_ac_out_voltage",
    2048: "high_ac_out_voltage",
    4096: "short_circuit",
    8192: "bms_lockout",
}

TRACKER_MODES: dict[int, str] = {0: "off", 1: "voltage_current_limited", 2: "mppt_active"}

DEVICE_MODES: dict[int, str] = {1: "charger", 2: "inverter", 4: "off", 5: "eco", 253: "hibernate"}

PRODUCTS: dict[int, str] = {
    0x0203: "BMV-700",
    0x0204: "BMV-702",
    0x0205: "BMV-700H",
    0x0300: "BlueSolar MPPT 70/15",
    0xA040: "BlueSolar MPPT 75/50",
    0xA041: "BlueSolar MPPT 150/35",
    0xA042: "BlueSolar MPPT 75/15",
    0xA043: "BlueSolar MPPT 100/15",
    0xA044: "BlueSolar MPPT 100/30",
    0xA045: "BlueSolar MPPT 100/50",
    0xA04A: "BlueSolar MPPT 100/30 rev2",
    0xA04B: "BlueSolar MPPT 150/35 rev2",
    0xA04C: "BlueSolar MPPT 75/10",
    0xA04D: "BlueSolar MPPT 150/45",
    0xA04E: "BlueSolar MPPT 150/60",
    0xA050: "SmartSolar MPPT 250/100",
    0xA051: "SmartSolar MPPT 150/100",
    0xA052: "SmartSolar MPPT 150/85",
    0xA053: "SmartSolar MPPT 75/15",
    0xA054: "SmartSolar MPPT 75/10",
    0xA055: "SmartSolar MPPT 100/15",
    0xA056: "SmartSolar MPPT 100/30",
    0xA057: "SmartSolar MPPT 100/50",
    0xA058: "SmartSolar MPPT 150/35",
    0xA05F: "SmartSolar MPPT 100/20",
    0xA060: "SmartSolar MPPT 100/20 48V",
    0xA061: "SmartSolar MPPT 150/45",
    0xA062: "SmartSolar MPPT 150/60",
    0xA063: "SmartSolar MPPT 150/70",
    0xA066: "BlueSolar MPPT 100/20",
    0xA06C: "SmartSolar MPPT 150/70 rev2",
    0xA074: "SmartSolar MPPT 75/10 rev2",
    0xA075: "SmartSolar MPPT 75/15 rev2",
    0xA076: "BlueSolar MPPT 100/30 rev3",
    0xA078: "BlueSolar MPPT 150/35 rev3",
    0xA07A: "BlueSolar MPPT 75/15 rev2",
    0xA381: "BMV-712 Smart",
    0xA382: "BMV-710H Smart",
    0xA383: "BMV-712 Smart rev2",
    0xA389: "SmartShunt 500A/50mV",
    0xA38A: "SmartShunt 1000A/50mV",
    0xA38B: "SmartShunt 2000A/50mV",
}


def code_name(table: dict[int, str], code: int) -> str:
    """The table's name for `code`; unknown codes stay visible as `code_N` instead of failing."""
    return table.get(code, f"code_{code}")


def bit_names(table: dict[int, str], mask: int) -> str:
    """Comma-joined names of the set bits ("none" for 0); unknown bits as `other_0xNN`."""
    if mask == 0:
        return "none"
    names = []
    bit = 1
    while bit <= mask:
        if mask & bit:
            names.append(table.get(bit, f"other_{bit:#x}"))
        bit <<= 1
    return ",".join(names)


def product_name(pid: int) -> str:
    """Product name of a PID; unknown (new) PIDs are named, not fatal."""
    return PRODUCTS.get(pid, f"unknown (0x{pid:04X})")
