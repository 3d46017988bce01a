"""Cost of the VE.Direct parse path: bytes -> blocks -> decoded readings, on real captures.

Feeds the real BMV-700 main+history capture (262 bytes, 2 blocks) and the BlueSolar block with a
HEX frame after its checksum, repeated, in 64-byte chunks (a serial read's typical size), and
prints the time per block and per byte. At 1 block/s a device needs one block's worth.

    .venv/bin/python bench/bench_parse.py
"""

from __future__ import annotations

import time
from pathlib import Path

from drivers.victron.vedirect.codec import Block, TextCodec
from drivers.victron.vedirect.fields import decode

CAPTURES = Path(__file__).resolve().parent.parent / "tests" / "captures"


def capture(name: str) -> bytes:
    text = (CAPTURES / name).read_text()
    return bytes.fromhex(" ".join(ln for ln in text.splitlines() if not ln.startswith("#")))


def run(stream: bytes, chunk: int = 64) -> tuple[int, float]:
    codec = TextCodec(drop_first=False)
    blocks = 0
    start = time.perf_counter()
    for i in range(0, len(stream), chunk):
        for event in codec.feed(stream[i : i + chunk]):
            if isinstance(event, Block):
                decode(event.fields)
                blocks += 1
    return blocks, time.perf_counter() - start


def main() -> None:
    print(f"{'capture':<40}{'blocks':>8}{'µs/block':>10}{'ns/byte':>9}")
    for name in ("vedirect_a3_bmv700_main_history.hex", "vedirect_a1_hex_after_checksum.hex"):
        stream = capture(name) * 2000
        blocks, seconds = run(stream)
        per_block, per_byte = seconds / blocks * 1e6, seconds / len(stream) * 1e9
        print(f"{name:<40}{blocks:>8}{per_block:>10.1f}{per_byte:>9.0f}")


if __name__ == "__main__":
    main()
