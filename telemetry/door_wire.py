"""The database door's wire: length-prefixed JSON frames, SQLite values carried exactly.

Pure: no socket, no thread (`read_frame` takes a socket's `recv`). A frame is a 4-byte
big-endian length and that many bytes of UTF-8 JSON holding one object. SQLite values are None,
int, float, str and bytes; JSON has no bytes, so a blob travels as `{"b": "<base64>"}` (no
other object is a value). Frames past `MAX_FRAME` are refused before they are read: a broken or
hostile peer cannot make either side allocate more.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable, Sequence
from typing import Any

MAX_FRAME = 8 * 1024 * 1024
"""The largest reply a client accepts: a fetch carries at most ~1 MiB of rows (the server's
budget), so only a single huge row comes near it."""
MAX_REQUEST = 1024 * 1024
"""The largest request the daemon reads: parsing a frame costs many times its size in memory,
and a Pi has little (`executemany` is sent in chunks of `MANY_CHUNK` parameter sets)."""
MANY_CHUNK = 200
FETCH_ROWS = 500
"""Rows a fetch returns at most: the daemon never materialises a whole month for a report."""
_HEADER = struct.Struct(">I")
HEADER_SIZE = _HEADER.size

Value = None | int | float | str | bytes


class WireError(Exception):
    """A frame that is not one: too large, not JSON, not an object, a value of the wrong kind."""


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), allow_nan=True).encode()
    if len(body) > MAX_FRAME:
        raise WireError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}")
    return _HEADER.pack(len(body)) + body


def body_size(header: bytes, limit: int = MAX_FRAME) -> int:
    """The length a frame's header announces; WireError past `limit`."""
    (size,) = _HEADER.unpack(header)
    if size > limit:
        raise WireError(f"frame of {size} bytes announced, at most {limit} accepted")
    return size


def parse(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"frame is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise WireError("frame is not a JSON object")
    return message


def pack_value(value: object) -> Any:
    if value is None or isinstance(value, int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b": base64.b64encode(bytes(value)).decode("ascii")}
    raise WireError(f"{type(value).__name__} is not an SQLite value")


def unpack_value(value: Any) -> Value:
    if value is None or isinstance(value, int | float | str):
        return value
    if isinstance(value, dict) and set(value) == {"b"} and isinstance(value["b"], str):
        try:
            return base64.b64decode(value["b"], validate=True)
        except ValueError:
            raise WireError("a blob that is not base64") from None
    raise WireError(f"{type(value).__name__} is not a value on the wire")


def packed_size(value: Any) -> int:
    """About what a packed value takes in a frame: text and blobs by length, numbers ~16 B."""
    if isinstance(value, dict):
        return len(value["b"])
    return len(value) if isinstance(value, str) else 16


def pack_row(row: Sequence[object]) -> list[Any]:
    return [pack_value(v) for v in row]


def unpack_row(row: Any) -> tuple[Value, ...]:
    if not isinstance(row, list):
        raise WireError("a row that is not a list")
    return tuple(unpack_value(v) for v in row)


def pack_params(params: Any) -> Any:
    """Positional (a sequence) or named (a mapping) parameters, as the sqlite3 module takes."""
    if params is None:
        return []
    if isinstance(params, dict):
        return {"named": {str(k): pack_value(v) for k, v in params.items()}}
    return [pack_value(v) for v in params]


def unpack_params(params: Any) -> list[Value] | dict[str, Value]:
    if isinstance(params, list):
        return [unpack_value(v) for v in params]
    if isinstance(params, dict) and set(params) == {"named"} and isinstance(params["named"], dict):
        return {str(k): unpack_value(v) for k, v in params["named"].items()}
    raise WireError("parameters that are neither a list nor named")


def read_frame(recv: Callable[[int], bytes], limit: int = MAX_FRAME) -> dict[str, Any] | None:
    """The next frame through `recv` (a socket's), or None when the peer closed between two."""
    header = _read_exactly(recv, HEADER_SIZE, allow_eof=True)
    if header is None:
        return None
    body = _read_exactly(recv, body_size(header, limit), allow_eof=False)
    assert body is not None
    return parse(body)


def _read_exactly(recv: Callable[[int], bytes], size: int, *, allow_eof: bool) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = recv(min(left, 65536))
        if not chunk:
            if allow_eof and left == size:
                return None
            raise WireError(f"connection closed {size - left} bytes into {size}")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
