"""`edged scan`: the technician's first look at a site: which serial ports, who answers where.

- `edged scan` lists serial ports with their stable /dev/serial/by-id names (what a config
  should use, since /dev/ttyUSB0 can become ttyUSB1 after a replug). It opens no port.
- `edged scan --rtu PORT [--baudrate B] [--units 1-10]` probes that one bus for slave ids.
- `edged scan --tcp HOST[:PORT] [--units 100,245-247]` asks a GX which unit id serves which
  service edged reads (system, solarcharger, battery), with one register of each built-in map.

Every probe is one read request per unit id (and per service on a GX), to the port or host named
on the command line only: nothing is ever written to a device. The probing itself lives in
`drivers.modbus.scan`; this module only parses, words the answers (French by default, English
with `--lang en` or EDGED_LANG) and sets the exit code: 0 something found, 1 nothing found or
port/host unreachable, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from drivers.modbus.mapfile import load_builtin
from drivers.modbus.spec import GX_SERVICES
from edged.cli.i18n import LANGS, N_, language, tr

# drivers.modbus (pymodbus) is imported inside the handlers: `edged` builds every subcommand's
# parser on each start, and `edged status` on a Pi should not pay for pymodbus.

RTU_UNITS = "1-10"
TCP_UNITS = "0-247"
RTU_TIMEOUT, TCP_TIMEOUT = 0.3, 1.0
RTU_MAP = "epever_tracer"
"""The built-in map whose first register an RTU probe reads unless --register says otherwise."""

_TEXT: dict[str, str] = {
    "ports": N_("Serial ports ({n}):"),
    "port_by_id": N_("  {by_id}\n      → {device}{desc}"),
    "port_plain": N_("  {device}{desc} (no stable /dev/serial/by-id name: this name may change)"),
    "no_ports": N_(
        "No serial port found. Plug in the adapter (USB-RS485, VE.Direct cable) and try again."
    ),
    "ports_hint": N_(
        "Nothing was sent to any port. In edged.toml, use the /dev/serial/by-id/… name."
    ),
    "rtu_head": N_(
        "Bus {port} at {baud} baud, addresses {units} (read-only: register {reg}, function {fc}):"
    ),
    "rtu_ok": N_("  address {unit}: answers"),
    "rtu_exc": N_("  address {unit}: present, but refuses this register ({why})"),
    "rtu_none": N_(
        "No answer. Check: A and B (try swapping them), the speed (--baudrate), the slave "
        "address, the 120 Ω termination; and that edged is not already using this port."
    ),
    "tcp_head": N_("GX {where}, units {units} (read-only: one register per service):"),
    "tcp_unit": N_("  unit {unit}: {services}"),
    "tcp_hint": N_(
        '      → driver = "victron-gx", host = "{host}", port = {port}, '
        'service = "{service}", unit = {unit}'
    ),
    "tcp_none": N_(
        "No unit serves {services}. On the GX: Settings → Services → Modbus TCP (enabled?) → "
        "Available services lists the unit ids."
    ),
    "found": N_("{n} found."),
    "cannot_open": N_("Cannot open {where}: missing, busy (is edged running?) or refused."),
    "cannot_connect": N_("Cannot connect to {where}: is the GX reachable, Modbus TCP enabled?"),
    "bad_units": N_("--units {text!r}: expected ids {lo} to {hi}, e.g. 1-10 or 100,245-247"),
    "bad_host": N_("--tcp {text!r}: expected HOST or HOST:PORT (port 1 to 65535)"),
}

Say = Callable[..., None]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `scan` on the `edged` command's subparsers."""
    parser = subparsers.add_parser(
        "scan", help="list serial ports, find Modbus units (read-only)", description=__doc__
    )
    _arguments(parser)
    parser.set_defaults(handler=run)
    return parser


def _arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--rtu", metavar="PORT", help="probe this Modbus-RTU bus (serial port)")
    where.add_argument("--tcp", metavar="HOST[:PORT]", help="probe this GX (Modbus-TCP, port 502)")
    parser.add_argument(
        "--units", help=f"ids to probe, e.g. 1-10 or 100,245-247 (RTU {RTU_UNITS}, TCP {TCP_UNITS})"
    )
    parser.add_argument("--baudrate", type=int, default=115200, help="RTU speed (default 115200)")
    parser.add_argument("--timeout", type=float, help="seconds per request (RTU 0.3, TCP 1.0)")
    parser.add_argument(
        "--register",
        type=lambda s: int(s, 0),
        help="RTU register each probe reads (default 0x3100, EPEver PV voltage)",
    )
    parser.add_argument("--function", type=int, choices=(3, 4), help="RTU read function")
    parser.add_argument("--lang", choices=LANGS, help="fr (default) or en; or $EDGED_LANG")
    parser.add_argument("--by-id-dir", help=argparse.SUPPRESS)  # tests: a stand-in by-id folder


def run(args: argparse.Namespace) -> int:
    """The `scan` handler: 0 found something, 1 nothing found or unreachable, 2 bad arguments."""
    lang = language(args.lang)

    def say(key: str, **kwargs: object) -> None:
        print(tr(_TEXT[key], lang, **kwargs))

    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # pymodbus logs every silent unit as an error; silence is the expected answer here
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    if args.rtu:
        return _scan_rtu(args, say)
    if args.tcp:
        return _scan_tcp(args, say)
    return _list_ports(args.by_id_dir, say)


def _list_ports(by_id_dir: str | None, say: Say) -> int:
    # drivers.modbus.scan brings pymodbus: loaded only when a technician scans
    from drivers.modbus.scan import BY_ID, serial_ports

    ports = serial_ports(by_id_dir or BY_ID)
    if not ports:
        say("no_ports")
        return 1
    say("ports", n=len(ports))
    for port in ports:
        desc = f" ({port.description})" if port.description not in ("", "n/a") else ""
        for link in port.by_id:
            say("port_by_id", by_id=link, device=port.device, desc=desc)
        if not port.by_id:
            say("port_plain", device=port.device, desc=desc)
    say("ports_hint")
    return 0


def _scan_rtu(args: argparse.Namespace, say: Say) -> int:
    from drivers.modbus.scan import probe_rtu

    units = _units(args.units or RTU_UNITS, 1, 247, say)
    if units is None:
        return 2
    first = load_builtin(RTU_MAP).registers[0]
    register = first.address if args.register is None else args.register
    function = args.function or first.function
    say(
        "rtu_head",
        port=args.rtu,
        baud=args.baudrate,
        units=spans(units),
        reg=f"{register:#06x}",
        fc=function,
    )
    try:
        found = probe_rtu(
            args.rtu, units, args.baudrate, register, function, args.timeout or RTU_TIMEOUT
        )
    except OSError:
        say("cannot_open", where=args.rtu)
        return 1
    for unit, status in sorted(found.items()):
        say("rtu_ok" if status == "ok" else "rtu_exc", unit=unit, why=status)
    if not found:
        say("rtu_none")
        return 1
    say("found", n=len(found))
    return 0


def _scan_tcp(args: argparse.Namespace, say: Say) -> int:
    from drivers.modbus.scan import probe_tcp

    host, port = _host_port(args.tcp)
    if port is None:
        say("bad_host", text=args.tcp)
        return 2
    units = _units(args.units or TCP_UNITS, 0, 255, say)
    if units is None:
        return 2
    where = f"{host}:{port}"
    say("tcp_head", where=where, units=spans(units))
    served: dict[int, list[str]] = {}
    try:
        for service in GX_SERVICES:
            first = load_builtin(f"victron_gx_{service}").registers[0]
            found = probe_tcp(
                host, units, port, first.address, first.function, args.timeout or TCP_TIMEOUT
            )
            for unit in sorted(u for u, status in found.items() if status == "ok"):
                served.setdefault(unit, []).append(service)
    except OSError:
        say("cannot_connect", where=where)
        return 1
    for unit, services in sorted(served.items()):
        say("tcp_unit", unit=unit, services=", ".join(services))
        for service in services:
            say("tcp_hint", host=host, port=port, service=service, unit=unit)
    if not served:
        say("tcp_none", services=", ".join(GX_SERVICES))
        return 1
    say("found", n=len(served))
    return 0


def parse_units(text: str, lo: int, hi: int) -> list[int]:
    """`"100,245-247"` -> [100, 245, 246, 247]; ValueError outside lo..hi or malformed."""
    units: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        a, b = int(first), int(last if dash else first)
        if not lo <= a <= b <= hi:
            raise ValueError(part)
        units.update(range(a, b + 1))
    return sorted(units)


def spans(units: Sequence[int]) -> str:
    """[1, 2, 3, 7] -> "1-3,7": the inverse of `parse_units`, for messages."""
    out: list[str] = []
    start = prev = None
    for u in [*units, None]:
        if prev is not None and u == prev + 1:
            prev = u
            continue
        if start is not None:
            out.append(f"{start}-{prev}" if prev != start else str(start))
        start = prev = u
    return ",".join(out)


def _units(text: str, lo: int, hi: int, say: Say) -> list[int] | None:
    try:
        return parse_units(text, lo, hi)
    except ValueError:
        say("bad_units", text=text, lo=lo, hi=hi)
        return None


def _host_port(text: str) -> tuple[str, int | None]:
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):  # [IPv6]:port
        host = host[1:-1]
    elif not sep or ":" in host:  # no port, or a bare IPv6 address
        return text, 502
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        return text, None
    return host, int(port)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m edged.cli.scan ...`: the same command before it is wired into `edged`."""
    parser = argparse.ArgumentParser(prog="edged scan", description=__doc__.splitlines()[0])
    _arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
