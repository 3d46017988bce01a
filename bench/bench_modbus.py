"""Full poll cycles of the Modbus drivers against the simulators, beside the wire time.

The pty and loopback move bytes at memory speed, so the measured time is the software cost
(pymodbus framing, our decode); the wire column is what the real link adds per cycle: RTU at the
configured baud (10 bits per character, 3.5-character silence before each frame), TCP as bytes.

    .venv/bin/python bench/bench_modbus.py [--cycles 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

from drivers.modbus.driver import ModbusDriver, rtu_client, tcp_client
from drivers.modbus.mapfile import load_builtin
from drivers.modbus.plan import plan
from drivers.modbus.simulator import GX_UNITS, EpeverSimulator, GxSimulator, free_port

RTU_BAUD = 115200


def rtu_bytes(counts: list[int]) -> int:
    """Request 8 bytes (id, fc, addr, count, CRC) + response 5 + 2n bytes, per request."""
    return sum(8 + 5 + 2 * n for n in counts)


def tcp_bytes(counts: list[int]) -> int:
    """MBAP 7 + PDU 5 request, MBAP 7 + PDU 2 + 2n response, per request."""
    return sum(12 + 9 + 2 * n for n in counts)


def measure(d: ModbusDriver, cycles: int) -> tuple[float, float]:
    d.open()
    times = []
    for _ in range(cycles):
        t = time.perf_counter()
        d.read(time.monotonic() + 5)
        times.append(time.perf_counter() - t)
    d.close()
    return statistics.median(times) * 1e3, max(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=200)
    cycles = ap.parse_args().cycles
    rows = []
    gx = GxSimulator(free_port())
    gx.start()
    try:
        for unit, stem in GX_UNITS.items():
            rmap = load_builtin(stem)
            d = ModbusDriver(rmap, tcp_client("127.0.0.1", gx.port), unit, 1.0, "gx")
            counts = [b.count for b in plan(rmap)]
            med, worst = measure(d, cycles)
            nbytes = tcp_bytes(counts)
            rows.append((rmap.name, len(counts), sum(counts), nbytes, med, worst, "LAN", 0.0))
    finally:
        gx.stop()
    ep = EpeverSimulator()
    ep.start()
    try:
        rmap = load_builtin("epever_tracer")
        d = ModbusDriver(rmap, rtu_client(ep.port, RTU_BAUD), 1, 1.0, ep.port)
        counts = [b.count for b in plan(rmap)]
        med, worst = measure(d, cycles)
        nbytes = rtu_bytes(counts)
        char = 10 / RTU_BAUD
        wire = (nbytes + 2 * 3.5 * len(counts)) * char * 1e3
        rows.append((rmap.name, len(counts), sum(counts), nbytes, med, worst, f"{RTU_BAUD}", wire))
    finally:
        ep.stop()
    head = ("map", "requests", "registers", "bytes", "median ms", "max ms", "link", "wire ms")
    print(f"{cycles} poll cycles each\n" + " | ".join(head))
    for name, req, regs, nbytes, med, worst, link, wire in rows:
        print(f"{name} | {req} | {regs} | {nbytes} | {med:.2f} | {worst:.2f} | {link} | {wire:.2f}")


if __name__ == "__main__":
    main()
