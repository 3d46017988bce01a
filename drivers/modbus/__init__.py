"""Modbus drivers described as data: register maps (TOML) + pure decoders + a thin pymodbus shell.

A new Modbus device is a map file in `maps/`, not a class. See `regmap` for the file format.
"""
