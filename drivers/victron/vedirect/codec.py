"""VE.Direct TEXT (and interleaved HEX) framing: bytes in, events out. Pure and sans-IO.

Follows the VE.Direct protocol: text framing and HEX frames (docs/drivers-vedirect.md). The codec
knows nothing of ports, clocks or field meanings: `fields.decode` gives the labels their meaning,
the driver moves bytes. `feed` never raises and is a byte-by-byte state machine, so the same bytes
split at any points give the same events.

Why a state machine rather than splitting on newlines: the checksum byte is one raw byte of any
value (0x0A, 0x0D and ':' included), and a HEX frame `:`...`\\n` may follow it directly or
interrupt a block; HEX bytes are excluded from the text checksum. The grammar is enforced while
streaming (CR LF, label, TAB, printable value) so line noise aborts the current candidate at once
and the codec resynchronises on the next CR LF instead of swallowing the next good block.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BLOCK_BYTES = 1024
"""The largest real block (BMV history, newer MPPTs) is under 300 bytes."""
MAX_FIELDS = 40
MAX_HEX_CHARS = 256
"""The largest HEX frame we know (0x1050 history record) has 78 hex digits."""

_CHECKSUM_LABEL = b"Checksum"
_LABEL_BYTES = frozenset(range(0x21, 0x7F)) - {ord(":")}
_VALUE_BYTES = frozenset(range(0x20, 0x7F)) - {ord(":")}
_HEX_DIGITS = frozenset(b"0123456789ABCDEFabcdef")

# States. A HEX frame suspends whichever state it interrupted and resumes it after its LF.
_IDLE, _CR, _LABEL, _VALUE, _VALUE_CR, _CHECKSUM, _HEX = range(7)


@dataclass(frozen=True, slots=True)
class Block:
    """One text block whose checksum held. `fields` exclude the Checksum field itself."""

    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes the codec threw away, and why (checksum, partial_first_block, oversize, ...)."""

    reason: str
    nbytes: int


@dataclass(frozen=True, slots=True)
class HexFrame:
    """A HEX frame whose checksum held: command nibble and data bytes (checksum byte excluded)."""

    command: int
    data: bytes


Event = Block | Rejected | HexFrame


class TextCodec:
    """Turns a VE.Direct byte stream into `Block`, `HexFrame` and `Rejected` events.

    A new codec stands for a freshly opened port, which is almost always mid-block: the first
    block to end (with whatever was skipped before it) is reported as
    `Rejected("partial_first_block")` even when its checksum holds, since 1 in 256 truncated
    blocks would pass. Runs of garbage are reported when the codec resynchronises, or every
    `MAX_BLOCK_BYTES` so that a line of pure noise (wrong baud rate) still shows in counters.
    `drop_first=False` is for decoding captures known to start on a block boundary.
    """

    def __init__(self, drop_first: bool = True) -> None:
        self._first = drop_first
        self._state = _IDLE
        self._resume = _IDLE  # state a HEX frame interrupted
        self._block = bytearray()  # text bytes of the current candidate, HEX excluded
        self._fields = 0
        self._hex = bytearray()
        self._garbage = 0  # bytes skipped while hunting for a block start
        self._events: list[Event] = []

    def feed(self, data: bytes) -> list[Event]:
        """Consume `data`; return the events completed by it (never raises)."""
        for byte in data:
            self._step(byte)
        events, self._events = self._events, []
        return events

    # --- state machine ----------------------------------------------------------------------

    def _step(self, byte: int) -> None:
        state = self._state
        if state == _HEX:
            self._hex_byte(byte)
        elif byte == 0x3A and state != _CHECKSUM:  # ':' starts a HEX frame anywhere but there
            self._flush_garbage()
            self._resume, self._state = state, _HEX
            self._hex.clear()
        elif state == _IDLE:
            self._idle_byte(byte)
        elif state == _CHECKSUM:
            self._block.append(byte)
            self._finish_block()
        else:
            self._block_byte(byte)

    def _idle_byte(self, byte: int) -> None:
        if byte == 0x0D:
            self._flush_garbage()
            self._block[:] = b"\r"
            self._fields = 0
            self._state = _CR
        else:
            self._skip(1)

    def _block_byte(self, byte: int) -> None:
        """One byte inside a text block candidate; grammar violations abort the candidate."""
        state = self._state
        self._block.append(byte)
        if len(self._block) > MAX_BLOCK_BYTES or self._fields > MAX_FIELDS:
            self._abort("oversize", len(self._block))
        elif state == _CR:
            self._expect(byte == 0x0A, _LABEL)
        elif state == _LABEL:
            if byte == 0x09:
                label_start = self._block.rfind(b"\r\n", 0, len(self._block) - 1) + 2
                label = self._block[label_start:-1]
                if not label:
                    self._abort("bad_field", len(self._block) - 1, byte)
                elif label == _CHECKSUM_LABEL:
                    self._state = _CHECKSUM
                else:
                    self._state = _VALUE
            else:
                self._expect(byte in _LABEL_BYTES, _LABEL)
        elif state == _VALUE:
            if byte == 0x0D:
                self._state = _VALUE_CR
            else:
                self._expect(byte in _VALUE_BYTES, _VALUE)
        else:  # _VALUE_CR
            self._fields += 1
            self._expect(byte == 0x0A, _LABEL)

    def _expect(self, ok: bool, next_state: int) -> None:
        if ok:
            self._state = next_state
        else:
            byte = self._block.pop()
            self._abort("bad_field", len(self._block), byte)

    def _abort(self, reason: str, nbytes: int, replay: int | None = None) -> None:
        """Drop the candidate; the offending byte is looked at again as a possible block start."""
        self._block.clear()
        self._state = _IDLE
        self._reject(reason, nbytes)
        if replay is not None:
            self._idle_byte(replay)

    def _finish_block(self) -> None:
        raw = bytes(self._block)
        self._block.clear()
        self._state = _IDLE
        fields = _split_fields(raw)
        if self._first:  # whatever came before, garbage or aborted candidates, goes with it
            self._events.append(Rejected("partial_first_block", self._garbage + len(raw)))
            self._first, self._garbage = False, 0
        elif sum(raw) % 256:
            self._reject("checksum", len(raw))
        elif not fields:
            self._reject("bad_field", len(raw))
        else:
            self._events.append(Block(fields))

    def _hex_byte(self, byte: int) -> None:
        hex_ = self._hex
        if byte == 0x0A:
            event = _hex_event(hex_)
            if isinstance(event, HexFrame):
                self._state = self._resume
                self._events.append(event)
            else:
                self._drop_hex(event.reason, event.nbytes)
        elif hex_.endswith(b"\r"):  # CR is tolerated only right before the LF
            self._drop_hex("bad_hex", len(hex_) + 1, byte)
        elif byte in _HEX_DIGITS or byte == 0x0D:
            hex_.append(byte)
            if len(hex_) > MAX_HEX_CHARS:
                self._drop_hex("oversize", len(hex_) + 1)
        else:
            self._drop_hex("bad_hex", len(hex_) + 1, byte)

    def _drop_hex(self, reason: str, nbytes: int, replay: int | None = None) -> None:
        """A broken HEX frame also spoils the text block it interrupted (its bytes may have been
        meant as text): both go, and the codec resynchronises from the offending byte."""
        self._state = _IDLE
        if self._resume != _IDLE:
            nbytes += len(self._block)
            self._block.clear()
        self._reject(reason, nbytes)
        if replay is not None:
            self._step(replay)

    # --- reporting --------------------------------------------------------------------------

    def _flush_garbage(self) -> None:
        if self._garbage and not self._first:
            self._events.append(Rejected("garbage", self._garbage))
            self._garbage = 0

    def _skip(self, nbytes: int) -> None:
        """Count bytes thrown away; a long run is reported in chunks so none goes unseen."""
        self._garbage += nbytes
        if self._garbage >= MAX_BLOCK_BYTES:
            self._events.append(Rejected("garbage", self._garbage))
            self._garbage = 0

    def _reject(self, reason: str, nbytes: int) -> None:
        """Report a rejection; before the first block ends it folds into partial_first_block."""
        if self._first:
            self._skip(nbytes)
        else:
            self._events.append(Rejected(reason, nbytes))


def _split_fields(raw: bytes) -> tuple[tuple[str, str], ...]:
    """Fields of a block that passed the streaming grammar (so the split cannot fail)."""
    body = raw[2 : raw.rindex(b"\r\nChecksum\t")]
    if not body:
        return ()
    pairs = (line.split(b"\t", 1) for line in body.split(b"\r\n"))
    return tuple((label.decode("ascii"), value.decode("latin-1")) for label, value in pairs)


def _hex_event(hex_: bytearray) -> Event:
    """Validate a complete `:`-frame body (without ':' and LF) and build its event."""
    digits = bytes(hex_).rstrip(b"\r")
    nbytes = len(hex_) + 2
    if len(digits) < 3 or len(digits) % 2 == 0:
        return Rejected("bad_hex", nbytes)
    command = int(digits[:1], 16)
    payload = bytes.fromhex(digits[1:].decode("ascii"))
    if (command + sum(payload)) % 256 != 0x55:
        return Rejected("hex_checksum", nbytes)
    return HexFrame(command, payload[:-1])


def encode_block(fields: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> bytes:
    """Wire bytes of one text block, checksum byte computed (for emulators and tests)."""
    body = b"".join(
        b"\r\n" + label.encode("ascii") + b"\t" + value.encode("latin-1") for label, value in fields
    )
    body += b"\r\nChecksum\t"
    return body + bytes([-sum(body) % 256])


def encode_hex(command: int, data: bytes) -> bytes:
    """Wire bytes of one HEX frame: ':' + command nibble + data + checksum, uppercase, LF."""
    checksum = (0x55 - command - sum(data)) % 256
    return b":" + f"{command:X}{(data + bytes([checksum])).hex().upper()}\n".encode("ascii")
