"""Victron VE.Direct TEXT protocol: codec (bytes -> blocks), assembler (blocks -> records),
fields and tables (records -> readings), driver (serial I/O), spec (registration), emulator
(a simulated device on a pseudo-terminal). See docs/drivers-vedirect.md."""
