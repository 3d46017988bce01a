"""A TCP relay that adds a fixed delay each way: a round trip for kernels without netem.

Why: a 3G link's ~300 ms round trip matters to a drain (how many PUBACKs are in flight) and to
an alarm's latency, and `tc netem` is the usual way to add it; where the kernel has no netem
(`tc qdisc add … netem` answers "Specified qdisc kind is unknown") the delay is added here, in
user space, between the daemon and the broker. Every chunk read on one side is written to the
other `delay` seconds after it was read, in order, so a request and its answer cross a round
trip of 2 × delay; the bandwidth is left to `tc tbf` on the link. Run in the site's network
namespace, the relay sits between the daemon (loopback) and the veth, so the link's counters see
each byte once.

    python bench/delay_relay.py --listen 127.0.0.1:18883 --to 10.231.1.1:8883 --delay 0.15
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy `reader` to `writer`, each chunk `delay` s after it arrived (order kept)."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    sender = asyncio.create_task(send())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay, data))
    except OSError:
        pass
    queue.put_nowait((0.0, b""))
    with contextlib.suppress(OSError):
        await sender


async def _relay(
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    to: tuple[str, int],
    delay: float,
) -> None:
    try:
        server_r, server_w = await asyncio.open_connection(*to)
    except OSError:
        client_w.close()
        return
    await asyncio.gather(_pump(client_r, server_w, delay), _pump(server_r, client_w, delay))
    for w in (client_w, server_w):
        w.close()


async def serve(listen: tuple[str, int], to: tuple[str, int], delay: float) -> None:
    server = await asyncio.start_server(lambda r, w: _relay(r, w, to, delay), *listen)
    async with server:
        await server.serve_forever()


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--listen", type=address, required=True, help="HOST:PORT")
    parser.add_argument("--to", type=address, required=True, help="HOST:PORT")
    parser.add_argument("--delay", type=float, required=True, help="seconds, each way")
    args = parser.parse_args()
    asyncio.run(serve(args.listen, args.to, args.delay))


if __name__ == "__main__":
    main()
